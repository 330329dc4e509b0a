import { Type } from 'typebox';

/** A file's name on its record: one safe path segment (no `..`, no slash), at most 128 characters. */
export const FILE_NAME = '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

/** A file as a record's JSON lists it (GET of a record, list pages) and as an upload answers it. */
export const FileSchema = Type.Object({
  name: Type.String({ pattern: FILE_NAME }),
  size: Type.Integer({ description: 'bytes of the file as uploaded' }),
  contentType: Type.String({ description: 'the Content-Type it was uploaded with (application/octet-stream when none)' }),
  sha256: Type.String({ description: 'hex SHA-256 of the file as uploaded' }),
  uploadedAt: Type.String({ format: 'date-time' }),
});

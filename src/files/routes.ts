import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import type { StreamingUploadConfig } from '../http/body-deadline.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { COLLECTION_NAME } from '../records/routes.js';
import { FILE_NAME, FileSchema } from './file-schema.js';
import type { FileAddress, FileDownload, RecordFiles, Upload } from './record-files.js';

export const FileParams = Type.Object({
  collection: Type.String({ pattern: COLLECTION_NAME }),
  id: Type.String({ format: 'uuid' }),
  name: Type.String({ pattern: FILE_NAME }),
});

/** Printable ASCII, as a header value may hold; anything else is refused, not stored and sent back later. */
export const UploadHeaders = Type.Object({
  'content-type': Type.Optional(Type.String({ maxLength: 200, pattern: '^[\\x21-\\x7e][\\x20-\\x7e]*$' })),
  'content-length': Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })),
});

export const DOWNLOAD_RESPONSE = { description: 'The file, as uploaded', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } };

const common = { tags: ['files'], security: [{ bearer: [] }] };
const PATH = '/v1/collections/:collection/records/:id/files/:name';

/** The upload as the use case takes it: the raw body still streaming, never parsed or buffered. */
export function uploadOf(request: FastifyRequest): Upload {
  const length = request.headers['content-length'];
  return {
    body: request.raw,
    contentType: request.headers['content-type'] ?? 'application/octet-stream',
    ...(length === undefined ? {} : { declaredBytes: Number(length) }),
  };
}

export function addressOf(params: { collection: string; id: string; name: string }): FileAddress {
  return { collection: params.collection, recordId: params.id, name: params.name };
}

/** Headers of a download: as uploaded, and never rendered by a browser in Confide's origin. */
export function downloadHeaders(file: FileDownload): Record<string, string | number> {
  return { 'content-type': file.contentType, 'content-length': file.size, 'content-disposition': 'attachment', 'x-content-sha256': file.sha256 };
}

/**
 * Files attached to records. Uploads take any content type, streamed: only these routes, in a scope
 * of their own, take a body that is not JSON (every other route keeps the JSON-only rule).
 */
export function fileRoutes(app: Router, files: RecordFiles, authenticate: Authenticator): void {
  const reading = { onRequest: requireAuthentication(authenticate, 'records.read') };
  const writing = { onRequest: requireAuthentication(authenticate, 'records.write') };
  void app.register(async (scope: Router) => {
    acceptAnyBody(scope);
    scope.put(
      PATH,
      {
        ...writing,
        // Governed by progress (CONFIDE_UPLOAD_STALL_SECONDS), not the total request timeout: src/http/body-deadline.ts.
        config: { streamingUpload: true } satisfies StreamingUploadConfig,
        schema: {
          ...common,
          summary: 'Attach a file to a record, or replace the file of that name (the body is the file, any content type, streamed)',
          description: 'At most CONFIDE_FILE_MAX_BYTES (100 MiB by default; 413 while streaming, nothing stored) and CONFIDE_FILES_PER_RECORD files per record (409 LIMIT_REACHED). 201 for a new name, 200 for a replaced file. Logged as `upload`. See docs/files.md.',
          params: FileParams,
          headers: UploadHeaders,
          response: { 200: FileSchema, 201: FileSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 503) },
        },
      },
      async (request, reply) => {
        const { file, replaced } = await files.upload(callerOf(request), addressOf(request.params), uploadOf(request));
        return reply.code(replaced ? 200 : 201).send(file);
      },
    );
  });
  app.get(
    PATH,
    { ...reading, schema: { ...common, summary: 'Download a file of a record, streamed as it authenticates (logged as `download` before the first byte)', params: FileParams, response: { 200: DOWNLOAD_RESPONSE, ...errorResponses(400, 401, 403, 404, 500, 503) } } },
    async (request, reply) => {
      const file = await files.download(callerOf(request), addressOf(request.params));
      return reply.headers(downloadHeaders(file)).send(file.body as never);
    },
  );
  app.delete(
    PATH,
    { ...writing, schema: { ...common, summary: 'Delete a file of a record', params: FileParams, response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 503) } } },
    async (request, reply) => {
      await files.remove(callerOf(request), addressOf(request.params));
      return reply.code(204).send(null);
    },
  );
}

/** In this scope only: any body (with or without a content type) reaches the handler unread, as `request.raw`. */
export function acceptAnyBody(scope: Router): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { openFileSecrets } from './file-secrets.js';
import { listFileRows, type RecordFileRow } from './record-file-repository.js';

/** A file as a record's JSON lists it. */
export interface FileView {
  name: string;
  size: number;
  contentType: string;
  sha256: string;
  uploadedAt: string;
}

export function fileView(cipher: Cipher, tenantId: string, row: RecordFileRow): FileView {
  const place = { tenantId, collection: row.collection, recordId: row.record_id, name: row.name, uploadId: row.upload_id };
  const { contentType, sha256 } = openFileSecrets(cipher, place, row.key_enc);
  return { name: row.name, size: Number(row.size), contentType, sha256, uploadedAt: row.uploaded_at };
}

/** The files of each of the given records (every id is in the map; none: an empty list). */
export async function filesOfRecords(db: Kysely<DB>, cipher: Cipher, tenantId: string, collection: string, recordIds: readonly string[]): Promise<Map<string, FileView[]>> {
  const files = new Map<string, FileView[]>(recordIds.map((id) => [id, []]));
  for (const row of await listFileRows(db, tenantId, collection, recordIds)) files.get(row.record_id)?.push(fileView(cipher, tenantId, row));
  return files;
}

/**
 * An upper bound of one file's JSON in a record's `files` (with its comma): a list page is planned
 * from stored sizes before anything is decrypted. Names are at most 128 characters that JSON does
 * not escape, content types at most 200 printable characters (each escaped to at most 2).
 */
export const FILE_JSON_AT_MOST = Buffer.byteLength(
  JSON.stringify({ name: 'n'.repeat(128), size: Number.MAX_SAFE_INTEGER, contentType: '', sha256: '0'.repeat(64), uploadedAt: new Date(8.64e15).toISOString() }),
) + 2 * 200 + 1;

/** How many files each of the given records has (absent: none). */
export async function fileCounts(db: Kysely<DB>, tenantId: string, collection: string, recordIds: readonly string[]): Promise<Map<string, number>> {
  if (recordIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('record_files')
    .select(['record_id', (eb) => eb.fn.countAll().as('n')])
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', 'in', [...recordIds])
    .groupBy('record_id')
    .execute();
  return new Map(rows.map((row) => [row.record_id, Number(row.n)]));
}

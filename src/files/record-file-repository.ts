import type { Kysely, Selectable } from 'kysely';
import type { DB } from '../db/schema.js';
import type { RecordFilesTable } from '../db/record-files-schema.js';
import { preparedQuery } from '../db/prepared-query.js';

/** Every query takes the tenant first: isolation is structural. */
export type RecordFileRow = Selectable<RecordFilesTable>;

/** Whether the tenant has this record (files hang off records; no other tenant's is ever seen). */
export async function recordExists(db: Kysely<DB>, tenantId: string, collection: string, recordId: string): Promise<boolean> {
  const row = await db.selectFrom('records').select('id').where('tenant_id', '=', tenantId).where('collection', '=', collection).where('id', '=', recordId).executeTakeFirst();
  return row !== undefined;
}

export async function findFileRow(db: Kysely<DB>, tenantId: string, collection: string, recordId: string, name: string): Promise<RecordFileRow | undefined> {
  return db
    .selectFrom('record_files')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', '=', recordId)
    .where('name', '=', name)
    .executeTakeFirst();
}

export async function countFiles(db: Kysely<DB>, tenantId: string, collection: string, recordId: string): Promise<number> {
  const row = await db
    .selectFrom('record_files')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', '=', recordId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** One record's files, on every read of a record: compiled once. */
const selectFilesOfRecord = preparedQuery(
  (db: Kysely<DB>, tenantId: string, collection: string, recordId: string) =>
    db.selectFrom('record_files').selectAll().where('tenant_id', '=', tenantId).where('collection', '=', collection).where('record_id', '=', recordId).orderBy('name'),
  3,
);

/** The files of the given records of one collection, by record then name. */
export async function listFileRows(db: Kysely<DB>, tenantId: string, collection: string, recordIds: readonly string[]): Promise<RecordFileRow[]> {
  if (recordIds.length === 0) return [];
  if (recordIds.length === 1) return selectFilesOfRecord(db, tenantId, collection, recordIds[0]!);
  return db
    .selectFrom('record_files')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', 'in', [...recordIds])
    .orderBy('record_id')
    .orderBy('name')
    .execute();
}

export async function insertFileRow(trx: Kysely<DB>, row: RecordFileRow): Promise<void> {
  await trx.insertInto('record_files').values(row).execute();
}

/** Points the name at a new upload, only if it still names `previousUploadId`; returns whether it did. */
export async function replaceFileRow(trx: Kysely<DB>, row: RecordFileRow, previousUploadId: string): Promise<boolean> {
  const result = await trx
    .updateTable('record_files')
    .set({ upload_id: row.upload_id, storage_id: row.storage_id, size: row.size, key_enc: row.key_enc, uploaded_at: row.uploaded_at })
    .where('tenant_id', '=', row.tenant_id)
    .where('collection', '=', row.collection)
    .where('record_id', '=', row.record_id)
    .where('name', '=', row.name)
    .where('upload_id', '=', previousUploadId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Removes one file's row; returns its blob's name, or undefined when there was none. */
export async function deleteFileRow(trx: Kysely<DB>, tenantId: string, collection: string, recordId: string, name: string): Promise<string | undefined> {
  const row = await findFileRow(trx, tenantId, collection, recordId, name);
  if (!row) return undefined;
  await trx
    .deleteFrom('record_files')
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', '=', recordId)
    .where('name', '=', name)
    .executeTakeFirst();
  return row.storage_id;
}

/** Removes every file row of a record (its deletion); returns their blobs' names, to remove after the commit. */
export async function deleteRecordFileRows(trx: Kysely<DB>, tenantId: string, collection: string, recordId: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('record_files')
    .select('storage_id')
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('record_id', '=', recordId)
    .execute();
  if (rows.length > 0) {
    await trx.deleteFrom('record_files').where('tenant_id', '=', tenantId).where('collection', '=', collection).where('record_id', '=', recordId).execute();
  }
  return rows.map((row) => row.storage_id);
}

import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB, RecordsTable } from '../db/schema.js';
import { preparedQuery } from '../db/prepared-query.js';
import { AppError } from '../lib/app-error.js';

/** Every query here takes the tenant first: isolation is structural, not remembered. */
export type RecordRow = Selectable<RecordsTable>;

const insertCollection = preparedQuery(
  (db: Kysely<DB>, tenantId: string, name: string, createdAt: string) =>
    db
      .insertInto('collections')
      .values({ tenant_id: tenantId, name, created_at: createdAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing()),
  3,
);

const selectCollection = preparedQuery(
  (db: Kysely<DB>, tenantId: string, name: string) =>
    db.selectFrom('collections').select('name').where('tenant_id', '=', tenantId).where('name', '=', name),
  2,
);

/**
 * Creates the collection on its first write, unless the tenant already has `maxCollections`
 * (then 409 LIMIT_REACHED, and the caller's transaction rolls back). On PostgreSQL two concurrent
 * first writes to different new collections may pass the cap by one each: it bounds growth, it is not a quota to the row.
 */
export async function ensureCollection(trx: Kysely<DB>, tenantId: string, name: string, createdAt: string, maxCollections: number): Promise<void> {
  if ((await selectCollection(trx, tenantId, name)).length > 0) return;
  const row = await trx
    .selectFrom('collections')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  if (Number(row.n) >= maxCollections) {
    throw new AppError('LIMIT_REACHED', {
      message: `A tenant may have at most ${maxCollections} collections.`,
      details: { resource: 'collections', limit: maxCollections },
    });
  }
  await insertCollection(trx, tenantId, name, createdAt);
}

/** On every record read and write: compiled once. */
const selectRecord = preparedQuery(
  (db: Kysely<DB>, tenantId: string, collection: string, id: string) =>
    db.selectFrom('records').selectAll().where('tenant_id', '=', tenantId).where('collection', '=', collection).where('id', '=', id),
  3,
);

export async function findRecordRow(db: Kysely<DB>, tenantId: string, collection: string, id: string): Promise<RecordRow | undefined> {
  const [row] = await selectRecord(db, tenantId, collection, id);
  return row;
}

/** Every column of a record, in the table's order. */
const RECORD_COLUMNS = ['tenant_id', 'collection', 'id', 'data_enc', 'version', 'created_at', 'updated_at'] as const satisfies ReadonlyArray<keyof RecordRow>;

/** A record and whether it has files, in one statement: a read lists the files only when there are some. */
const selectRecordForReading = preparedQuery(
  (db: Kysely<DB>, tenantId: string, collection: string, id: string) =>
    db
      .selectFrom('records')
      // Named, not records.*: the direct driver reads named columns as raw values (direct-sqlite.ts).
      .select(RECORD_COLUMNS.map((column) => `records.${column}` as const))
      .select((eb) =>
        eb
          .exists(
            eb
              .selectFrom('record_files')
              .select('record_files.record_id')
              .whereRef('record_files.tenant_id', '=', 'records.tenant_id')
              .whereRef('record_files.collection', '=', 'records.collection')
              .whereRef('record_files.record_id', '=', 'records.id'),
          )
          .as('has_files'),
      )
      .where('records.tenant_id', '=', tenantId)
      .where('records.collection', '=', collection)
      .where('records.id', '=', id),
  3,
);

export async function findRecordRowForReading(db: Kysely<DB>, tenantId: string, collection: string, id: string): Promise<{ row: RecordRow; hasFiles: boolean } | undefined> {
  const [found] = await selectRecordForReading(db, tenantId, collection, id);
  if (!found) return undefined;
  const { has_files: hasFiles, ...row } = found;
  // SQLite answers EXISTS with 1 or 0, PostgreSQL with true or false.
  return { row, hasFiles: Boolean(hasFiles) };
}

const insertRecord = preparedQuery(
  (db: Kysely<DB>, ...values: string[]) =>
    db.insertInto('records').values(Object.fromEntries(RECORD_COLUMNS.map((column, i) => [column, values[i]])) as unknown as RecordRow),
  RECORD_COLUMNS.length,
);

export async function insertRecordRow(trx: Kysely<DB>, row: RecordRow): Promise<void> {
  await insertRecord(trx, ...RECORD_COLUMNS.map((column) => row[column]));
}

/** Updates only when the stored version is still `expectedVersion`; returns whether it did. */
export async function updateRecordRow(
  trx: Kysely<DB>,
  tenantId: string,
  collection: string,
  id: string,
  expectedVersion: number,
  changes: { data_enc: string; version: number; updated_at: string },
): Promise<boolean> {
  const result = await trx
    .updateTable('records')
    .set(changes)
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteRecordRow(trx: Kysely<DB>, tenantId: string, collection: string, id: string): Promise<boolean> {
  const result = await trx
    .deleteFrom('records')
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** A record's id and the length of its stored ciphertext: enough to plan a page before reading any data. */
export interface RecordSize {
  id: string;
  sealedBytes: number;
  /** At most this many bytes of JSON for its files (src/files/file-view.ts); none when absent. */
  filesBytes?: number;
}

/**
 * The next `limit` records of a collection in id order (UUIDv7, so creation order), after
 * `afterId`, by size only. The query touches no column stored after the data: SQLite keeps a row's
 * columns in order, so reaching one behind a large value walks all its overflow pages, while
 * `octet_length` (SQLite 3.43+) reads the length from the row header; PostgreSQL does not
 * de-TOAST for it either. This stays cheap however large the records are.
 */
export async function listRecordSizes(
  db: Kysely<DB>,
  tenantId: string,
  collection: string,
  afterId: string | undefined,
  limit: number,
): Promise<RecordSize[]> {
  let query = db
    .selectFrom('records')
    .select(['id', sql<number | string>`octet_length(data_enc)`.as('sealed_bytes')])
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .orderBy('id', 'asc')
    .limit(limit);
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  const rows = await query.execute();
  return rows.map((row) => ({ id: row.id, sealedBytes: Number(row.sealed_bytes) }));
}

const selectRecordRange = preparedQuery(
  (db: Kysely<DB>, tenantId: string, collection: string, firstId: string, lastId: string) =>
    db
      .selectFrom('records')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('collection', '=', collection)
      .where('id', '>=', firstId)
      .where('id', '<=', lastId)
      .orderBy('id', 'asc'),
  4,
);

/**
 * A collection's records with ids from `firstId` to `lastId` (both included), in id order. A page
 * is a run of consecutive ids, so one range reads it with one statement text (prepared once),
 * whatever the page's length.
 */
export async function findRecordRowsInRange(db: Kysely<DB>, tenantId: string, collection: string, firstId: string, lastId: string): Promise<RecordRow[]> {
  return selectRecordRange(db, tenantId, collection, firstId, lastId);
}

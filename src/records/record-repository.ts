import type { Kysely, Selectable } from 'kysely';
import type { DB, RecordsTable } from '../db/schema.js';
import { preparedQuery } from '../db/prepared-query.js';

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

export async function ensureCollection(trx: Kysely<DB>, tenantId: string, name: string, createdAt: string): Promise<void> {
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

const RECORD_COLUMNS = ['tenant_id', 'collection', 'id', 'data_enc', 'version', 'created_at', 'updated_at'] as const satisfies ReadonlyArray<keyof RecordRow>;
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

/** A page of a collection in id order (UUIDv7, so creation order), after `afterId`. */
export async function listRecordRows(
  db: Kysely<DB>,
  tenantId: string,
  collection: string,
  afterId: string | undefined,
  limit: number,
): Promise<RecordRow[]> {
  let query = db
    .selectFrom('records')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .orderBy('id', 'asc')
    .limit(limit);
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  return query.execute();
}

import type { Kysely, Selectable } from 'kysely';
import type { DB, RecordsTable } from '../db/schema.js';

/** Every query here takes the tenant first: isolation is structural, not remembered. */
export type RecordRow = Selectable<RecordsTable>;

export async function ensureCollection(trx: Kysely<DB>, tenantId: string, name: string, createdAt: string): Promise<void> {
  await trx
    .insertInto('collections')
    .values({ tenant_id: tenantId, name, created_at: createdAt })
    .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
    .execute();
}

export async function findRecordRow(db: Kysely<DB>, tenantId: string, collection: string, id: string): Promise<RecordRow | undefined> {
  return db
    .selectFrom('records')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection', '=', collection)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function insertRecordRow(trx: Kysely<DB>, row: RecordRow): Promise<void> {
  await trx.insertInto('records').values(row).execute();
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

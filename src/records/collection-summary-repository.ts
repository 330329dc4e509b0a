import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** A collection as metadata shows it: no record contents, only how many and how much is stored. */
export interface CollectionSummary {
  name: string;
  records: number;
  /** Stored ciphertext bytes of its records (envelopes as stored, not plaintext). */
  bytes: number;
}

/**
 * The tenant's collections after `afterName`, by name, at most `limit`, each with its record
 * count and stored bytes. No data column is read: `octet_length` takes the length from the row
 * header (see listRecordSizes).
 */
export async function listCollectionSummaries(db: Kysely<DB>, tenantId: string, afterName: string | undefined, limit: number): Promise<CollectionSummary[]> {
  let query = db
    .selectFrom('collections')
    .leftJoin('records', (join) => join.onRef('records.tenant_id', '=', 'collections.tenant_id').onRef('records.collection', '=', 'collections.name'))
    .select([
      'collections.name',
      (eb) => eb.fn.count<number | string>('records.id').as('records'),
      sql<number | string | null>`sum(octet_length(records.data_enc))`.as('bytes'),
    ])
    .where('collections.tenant_id', '=', tenantId)
    .groupBy('collections.name')
    .orderBy('collections.name', 'asc')
    .limit(limit);
  if (afterName !== undefined) query = query.where('collections.name', '>', afterName);
  const rows = await query.execute();
  return rows.map((row) => ({ name: row.name, records: Number(row.records), bytes: Number(row.bytes ?? 0) }));
}

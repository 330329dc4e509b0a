import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** Each tenant's access-log length as its recorded head gives it (a tenant with no entry yet is absent): what dividing verification work by size needs. */
export async function chainLengths(db: Kysely<DB>): Promise<Map<string, number>> {
  const rows = await db.selectFrom('access_log_heads').select(['tenant_id', 'seq']).execute();
  return new Map(rows.map((row) => [row.tenant_id, Number(row.seq)]));
}

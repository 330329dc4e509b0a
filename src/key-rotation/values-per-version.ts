import { join } from 'node:path';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Dialect } from '../db/store-dialect.js';
import { ENVELOPE_FORMAT } from '../keys/envelope-format.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { columnsOwnedBy, type ColumnField } from './column-walk.js';
import { outboxEnvelopes } from './outbox-walk.js';
import type { UntypedDb } from '../db/untyped-db.js';

/** owner → key version → algorithm (as the envelope names it, `A256GCM`) → how many values. */
export type ValuesPerVersion = Map<string, Map<number, Map<string, number>>>;

export interface ValuesDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  config: { dataDir: string };
}


/** Every column of the registry, the system's and the tenants' (columnsOwnedBy splits them; the inventory wants both). */
const allColumns = (): ColumnField[] => [...columnsOwnedBy(SYSTEM_OWNER), ...columnsOwnedBy('')];

function add(counts: ValuesPerVersion, owner: string, version: number, algorithm: string, values: number): void {
  if (!Number.isInteger(version) || version < 1 || values === 0) return; // not an envelope Confide wrote
  const versions = counts.get(owner) ?? new Map<number, Map<string, number>>();
  const algorithms = versions.get(version) ?? new Map<string, number>();
  algorithms.set(algorithm, (algorithms.get(algorithm) ?? 0) + values);
  versions.set(version, algorithms);
  counts.set(owner, versions);
}

/**
 * One grouped scan of a column: its values counted by owner and by the algorithm and key version
 * their envelope names (`c1.<algorithm>.<version>.<base64url>`: the 2nd and 3rd dot-separated parts;
 * neither an algorithm name nor base64url holds a dot). Nothing is decrypted. With `tenant`, only
 * that tenant's rows (its tenant-column index narrows the scan).
 */
async function countColumn(deps: ValuesDeps, field: ColumnField, tenant: string | undefined): Promise<Array<{ owner: string; algorithm: string; version: string; values: number }>> {
  const value = sql.ref<string>(field.column);
  const algorithm = deps.dialect.splitPart(value, '.', 2);
  const version = deps.dialect.splitPart(value, '.', 3);
  const byTenant = field.owner.kind === 'tenant';
  const owner: RawBuilder<string> = byTenant ? sql.ref<string>((field.owner as { tenantColumn: string }).tenantColumn) : sql.lit(SYSTEM_OWNER);
  let query = (deps.db as UntypedDb)
    .selectFrom(field.table)
    .select([owner.as('owner'), algorithm.as('algorithm'), version.as('version'), sql<number>`count(*)`.as('values')])
    .where(field.column, 'like', `${ENVELOPE_FORMAT}.%`);
  if (byTenant && tenant !== undefined) query = query.where((field.owner as { tenantColumn: string }).tenantColumn, '=', tenant);
  // A constant is not grouped by (PostgreSQL refuses `GROUP BY 'system'`): the system's columns group by envelope only.
  query = query.groupBy(byTenant ? [owner, algorithm, version] : [algorithm, version]);
  const rows = (await query.execute()) as Array<{ owner: string; algorithm: string; version: string; values: number | string }>;
  return rows.map((row) => ({ ...row, values: Number(row.values) }));
}

/**
 * How many values each key version of each owner still protects, per algorithm, from the registry
 * (src/keys/encrypted-fields.ts): per column ONE grouped scan for every owner at once, not a query
 * per tenant × column × version, and the mail outbox files for the system key. `owner` narrows it
 * to one owner (a tenant's own view, or the system's).
 */
export async function valuesPerVersion(deps: ValuesDeps, owner?: string): Promise<ValuesPerVersion> {
  const counts: ValuesPerVersion = new Map();
  const columns = owner === undefined ? allColumns() : columnsOwnedBy(owner);
  const tenant = owner === undefined || owner === SYSTEM_OWNER ? undefined : owner;
  for (const field of columns) {
    for (const row of await countColumn(deps, field, tenant)) add(counts, row.owner, Number(row.version), row.algorithm, row.values);
  }
  if (owner === undefined || owner === SYSTEM_OWNER) {
    for (const envelope of outboxEnvelopes(join(deps.config.dataDir, 'outbox'))) add(counts, SYSTEM_OWNER, envelope.version, envelope.algorithm, 1);
  }
  return counts;
}

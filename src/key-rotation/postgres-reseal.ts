import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { ColumnField } from './column-walk.js';

/** One value to re-seal: its new ciphertext, the ciphertext read, and its row's primary key (in `field.primaryKey` order). */
export interface Reseal {
  fresh: string;
  stored: string;
  key: unknown[];
}

/**
 * Each table's column types, read once from the catalogue: a parameter array must be cast to its
 * column's type (`integer[]` for the access log's `seq`, `text[]` for ids and values), or PostgreSQL
 * refuses to compare `integer = text`; comparing as text instead would lose the primary key's index. Confide's migrations fix the types, so one read per process serves
 * every schema it is pointed at.
 */
const columnTypes = new Map<string, Map<string, string>>();

async function typesOf(trx: Kysely<DB>, table: string): Promise<Map<string, string>> {
  const known = columnTypes.get(table);
  if (known) return known;
  const { rows } = await sql<{ name: string; type: string }>`
    select attname as name, format_type(atttypid, atttypmod) as type
    from pg_attribute where attrelid = to_regclass(${table}) and attnum > 0 and not attisdropped`.execute(trx);
  if (rows.length === 0) throw new Error(`re-encryption: table ${table} not found`);
  const types = new Map(rows.map((row) => [row.name, row.type]));
  columnTypes.set(table, types);
  return types;
}

/**
 * Re-seals every value of `reseals` with ONE statement: on PostgreSQL each statement is a round trip,
 * and one per value made a large tenant's walk take hours. The values travel as one array per column
 * (`unnest`), so the statement has as many parameters as the key has columns plus two, whatever the
 * batch size (a VALUES list would need one per cell, and PostgreSQL allows 65,535), and a composite
 * key of mixed types is just one more typed array. Each row is still updated only if it holds the
 * ciphertext read: under READ COMMITTED a row a user changed meanwhile is re-checked against its
 * newest version, fails `stored`, and keeps the user's value. Returns the rows updated.
 */
export async function resealInOneStatement(trx: Kysely<DB>, field: ColumnField, reseals: Reseal[]): Promise<number> {
  if (reseals.length === 0) return 0;
  const types = await typesOf(trx, field.table);
  const arrayOf = (column: string) => {
    const type = types.get(column);
    if (!type) throw new Error(`re-encryption: ${field.table}.${column} not found`);
    return sql.raw(`${type}[]`);
  };
  const arrays = [
    sql`${reseals.map((r) => r.fresh)}::${arrayOf(field.column)}`,
    sql`${reseals.map((r) => r.stored)}::${arrayOf(field.column)}`,
    ...field.primaryKey.map((column, i) => sql`${reseals.map((r) => r.key[i])}::${arrayOf(column)}`),
  ];
  const keyNames = field.primaryKey.map((_, i) => sql.raw(`k${i}`));
  const target = sql.table(field.table);
  const value = sql.ref(`${field.table}.${field.column}`);
  const keyMatches = field.primaryKey.map((column, i) => sql`${sql.ref(`${field.table}.${column}`)} = v.${keyNames[i]!}`);
  const result = await sql`
    update ${target} set ${sql.ref(field.column)} = v.fresh
    from unnest(${sql.join(arrays)}) as v(fresh, stored, ${sql.join(keyNames)})
    where ${value} = v.stored and ${sql.join(keyMatches, sql` and `)}`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

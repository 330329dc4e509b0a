import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Dialect } from '../db/store-dialect.js';
import type { Cipher } from '../keys/cipher.js';
import { ENVELOPE_FORMAT } from '../keys/envelope-format.js';
import { encryptedFields, type EncryptedField, type EncryptedFieldName } from '../keys/encrypted-fields.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { resealInOneStatement, type Reseal } from './postgres-reseal.js';
import type { UntypedDb } from '../db/untyped-db.js';

/** A `kind: 'column'` entry of the registry, with its name (the job's checkpoint names it). */
export type ColumnField = Extract<EncryptedField, { kind: 'column' }> & { name: EncryptedFieldName };


/** The registry's columns whose values `owner`'s key seals, in registry order (the order the job walks them). */
export function columnsOwnedBy(owner: string): ColumnField[] {
  const system = owner === SYSTEM_OWNER;
  return encryptedFields()
    .filter((entry): entry is [EncryptedFieldName, Extract<EncryptedField, { kind: 'column' }>] => entry[1].kind === 'column')
    .filter(([, field]) => (field.owner.kind === 'system') === system)
    .map(([name, field]) => ({ ...field, name }));
}

/** The owner's values of one column (nulls are no values). */
function ownersValues(db: Kysely<DB>, field: ColumnField, owner: string) {
  let query = (db as UntypedDb).selectFrom(field.table).where(field.column, 'is not', null);
  if (field.owner.kind === 'tenant') query = query.where(field.owner.tenantColumn, '=', owner);
  return query;
}

export async function countValues(db: Kysely<DB>, field: ColumnField, owner: string): Promise<number> {
  const row = await ownersValues(db, field, owner).select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Values under any key version other than `version`. The envelope is `c1.<algorithm>.<version>.<base64url>`,
 * and neither an algorithm name nor base64url holds a dot, so `%.<version>.%` matches exactly that version.
 */
export async function countOutsideVersion(db: Kysely<DB>, field: ColumnField, owner: string, version: number): Promise<number> {
  const pattern = `${ENVELOPE_FORMAT}.%.${version}.%`;
  const row = await ownersValues(db, field, owner)
    .where(field.column, 'not like', pattern)
    .select((eb) => eb.fn.countAll().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * `UPDATE <table> SET <column> = ? WHERE <column> = ? AND <pk…> = ?`, compiled once per batch and
 * run per value with its parameters in that order: building Kysely's query tree for every value
 * cost more than the statement itself.
 */
function conditionalUpdate(trx: Kysely<DB>, field: ColumnField): CompiledQuery {
  let update = (trx as UntypedDb).updateTable(field.table).set({ [field.column]: '' }).where(field.column, '=', '');
  for (const column of field.primaryKey) update = update.where(column, '=', '');
  return update.compile();
}

export interface Batch {
  /** Values read (every one is done: re-sealed, already current, or changed by a user meanwhile). */
  read: number;
  resealed: number;
  /** The last primary key read: the checkpoint to resume after. null when the column had no more values. */
  last: unknown[] | null;
}

/** The owner's next `limit` rows of a column after `after` (primary-key order): key, location columns and value. */
export async function readBatch(trx: Kysely<DB>, field: ColumnField, owner: string, after: unknown[] | null, limit: number): Promise<Array<Record<string, unknown>>> {
  const pk = field.primaryKey;
  const columns = [...new Set([...pk, ...field.locationColumns, field.column])];
  let query = ownersValues(trx, field, owner).select(columns);
  // A row-value comparison walks a composite key in its own order (SQLite ≥ 3.15 and PostgreSQL both have it).
  if (after) query = query.where(sql<boolean>`(${sql.join(pk.map((c) => sql.ref(c)))}) > (${sql.join(after)})`);
  for (const column of pk) query = query.orderBy(column);
  return query.limit(limit).execute();
}

/**
 * Re-seals the rows read that are not current. Each update is conditional on the value still being
 * the ciphertext read: a user's write in between wins (it is sealed with the new version already)
 * and is never overwritten with the older plaintext. Returns how many values it re-sealed.
 *
 * Where a statement is a round trip (PostgreSQL) the batch goes as one statement; SQLite runs each
 * compiled statement in process for a few microseconds, so it keeps one per value.
 */
export async function resealRows(trx: Kysely<DB>, dialect: Pick<Dialect, 'statementsAreRoundTrips'>, field: ColumnField, cipher: Cipher, rows: Array<Record<string, unknown>>): Promise<number> {
  const reseals: Reseal[] = [];
  for (const row of rows) {
    const stored = row[field.column] as string;
    if (cipher.isCurrent(stored)) continue;
    const location = field.location(row);
    reseals.push({ fresh: cipher.encrypt(cipher.decrypt(stored, location), location), stored, key: field.primaryKey.map((column) => row[column]) });
  }
  if (dialect.statementsAreRoundTrips) return resealInOneStatement(trx, field, reseals);
  const update = conditionalUpdate(trx, field);
  let resealed = 0;
  for (const { fresh, stored, key } of reseals) {
    const result = await trx.executeQuery(CompiledQuery.raw(update.sql, [fresh, stored, ...key]));
    resealed += Number(result.numAffectedRows ?? 0);
  }
  return resealed;
}

/** One batch of the walk, inside the caller's transaction: the next rows after `after`, re-sealed where not current. */
export async function resealBatch(trx: Kysely<DB>, dialect: Pick<Dialect, 'statementsAreRoundTrips'>, field: ColumnField, owner: string, cipher: Cipher, after: unknown[] | null, limit: number): Promise<Batch> {
  const rows = await readBatch(trx, field, owner, after, limit);
  const resealed = await resealRows(trx, dialect, field, cipher, rows);
  const lastRow = rows[rows.length - 1];
  return { read: rows.length, resealed, last: lastRow ? field.primaryKey.map((column) => lastRow[column]) : null };
}

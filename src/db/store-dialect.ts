import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from './schema.js';
import { GroupCommit, OneTransactionEach, type BatchObserver, type TransactionRunner } from './transaction-runner.js';

/**
 * What differs between the two stores, behind one small seam (as Kysely's `Dialect` is): code
 * asks the dialect what to do instead of comparing its name. The backup issue adds a consistent
 * snapshot here.
 */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /**
   * Whether a transaction must lock the rows it reads in order to update them (PostgreSQL:
   * `SELECT … FOR UPDATE`, so concurrent nodes serialise); SQLite serialises writers anyway.
   */
  readonly locksRowsForUpdate: boolean;
  /**
   * Whether every statement is a round trip to a server (PostgreSQL), so work on many rows is worth
   * sending as one statement; SQLite runs a compiled statement in process in microseconds.
   */
  readonly statementsAreRoundTrips: boolean;
  /**
   * Runs units of work durably: grouped commits on SQLite (each batch's size told to `onBatch`),
   * one transaction each on PostgreSQL (no batches to tell of).
   */
  transactionRunner(db: Kysely<DB>, onBatch?: BatchObserver): TransactionRunner;
  /** Where Kysely's migration bookkeeping lives: the connection's schema on PostgreSQL. */
  migrationTableSchema(db: Kysely<DB>): Promise<string | undefined>;
  /**
   * The `index`-th (from 1) `separator`-separated part of a text expression, '' past the last:
   * PostgreSQL's `split_part`, spelled with `instr`/`substr` on SQLite, which has no such function.
   * The crypto inventory groups values by their envelope's algorithm and key version with it.
   */
  splitPart(text: RawBuilder<string>, separator: string, index: number): RawBuilder<string>;
}

/** SQLite: drop the first part `index - 1` times, then cut at the next separator (one appended, so the last part has one). */
// Literals, not parameters: a grouped query names the expression twice (select, group by), and
// PostgreSQL only sees two expressions as one when they are spelled the same.
function sqliteSplitPart(text: RawBuilder<string>, separator: string, index: number): RawBuilder<string> {
  const sep = sql.lit(separator);
  let rest = text;
  for (let i = 1; i < index; i += 1) rest = sql<string>`substr(${rest}, instr(${rest} || ${sep}, ${sep}) + ${sql.lit(separator.length)})`;
  return sql<string>`substr(${rest}, 1, instr(${rest} || ${sep}, ${sep}) - 1)`;
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  locksRowsForUpdate: false,
  statementsAreRoundTrips: false,
  transactionRunner: (db, onBatch) => new GroupCommit(db, onBatch),
  migrationTableSchema: async () => undefined,
  splitPart: sqliteSplitPart,
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  locksRowsForUpdate: true,
  statementsAreRoundTrips: true,
  transactionRunner: (db) => new OneTransactionEach(db),
  // Kysely looks for its bookkeeping tables in every schema unless told which one is ours.
  migrationTableSchema: async (db) => (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema,
  splitPart: (text, separator, index) => sql<string>`split_part(${text}, ${sql.lit(separator)}, ${sql.lit(index)})`,
};

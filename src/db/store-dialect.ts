import { sql, type Kysely } from 'kysely';
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
   * Runs units of work durably: grouped commits on SQLite (each batch's size told to `onBatch`),
   * one transaction each on PostgreSQL (no batches to tell of).
   */
  transactionRunner(db: Kysely<DB>, onBatch?: BatchObserver): TransactionRunner;
  /** Where Kysely's migration bookkeeping lives: the connection's schema on PostgreSQL. */
  migrationTableSchema(db: Kysely<DB>): Promise<string | undefined>;
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  locksRowsForUpdate: false,
  transactionRunner: (db, onBatch) => new GroupCommit(db, onBatch),
  migrationTableSchema: async () => undefined,
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  locksRowsForUpdate: true,
  transactionRunner: (db) => new OneTransactionEach(db),
  // Kysely looks for its bookkeeping tables in every schema unless told which one is ours.
  migrationTableSchema: async (db) => (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema,
};

import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/config.js';
import { openEncryptedSqlite } from './open-encrypted-sqlite.js';
import { withStatementCache } from './statement-cache.js';
import { migrationProvider } from './migrations/index.js';
import type { DB } from './schema.js';

export type Dialect = DatabaseConfig['kind'];

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * Opens the configured store. SQLite needs its page key up front (derived from the master key);
 * PostgreSQL relies on the application-level encryption of every customer value.
 */
export async function openDatabase(config: DatabaseConfig, sqliteKey: Buffer): Promise<Database> {
  if (config.kind === 'sqlite') {
    const handle = openEncryptedSqlite(config.file, sqliteKey);
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(handle) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const pool = new pg.Pool({ connectionString: config.url, max: 10 });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

export async function migrateToLatest(database: Database): Promise<void> {
  const { db } = database;
  // Kysely looks for its bookkeeping tables in every schema unless told which one is ours, so
  // on PostgreSQL name the schema the connection works in (its search_path).
  const migrationTableSchema =
    database.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({ db, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('database migration failed', { cause: error });
}

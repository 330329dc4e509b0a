import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { CurrentSchemaPostgresDialect } from './current-schema-introspector.js';
import { loadPg } from './pg-driver.js';
import { nameStatements } from './named-statements.js';
import type { DatabaseConfig } from '../config/config.js';
import { openEncryptedSqlite } from './open-encrypted-sqlite.js';
import { withStatementCache } from './statement-cache.js';
import { directSqlite, registerDirectSqlite } from './direct-sqlite.js';
import { migrationProvider } from './migrations/index.js';
import type { DB } from './schema.js';

import { POSTGRES, SQLITE, type Dialect } from './store-dialect.js';

export type { Dialect } from './store-dialect.js';

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
    const statements = withStatementCache(handle);
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: statements }) });
    registerDirectSqlite(db, directSqlite(handle, (sql) => statements.prepare(sql)));
    return { db, dialect: SQLITE, close: () => db.destroy() };
  }
  const pg = await loadPg();
  const pool = new pg.Pool({ connectionString: config.url, max: 10 });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  // Nor may a client checked out between two queries of a transaction (the pool listens only to
  // idle ones): with no listener its 'error' event would end the process when the primary dies
  // or fails over. The transaction's next query fails instead, and the pool discards the client
  // on release because it is no longer queryable.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    if (config.preparedStatements !== false) nameStatements(client);
  });
  const db = new Kysely<DB>({ dialect: new CurrentSchemaPostgresDialect({ pool }) });
  return { db, dialect: POSTGRES, close: () => db.destroy() };
}

export async function migrateToLatest(database: Database): Promise<void> {
  const { db } = database;
  const migrationTableSchema = await database.dialect.migrationTableSchema(db);
  const migrator = new Migrator({ db, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('database migration failed', { cause: error });
}

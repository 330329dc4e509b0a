import Database from 'better-sqlite3-multiple-ciphers';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from '../../src/db/migrations/index.js';
import type { DB } from '../../src/db/schema.js';

/** A fresh in-memory SQLite database with every migration applied: for unit tests of code over the schema. */
export async function migratedMemoryDatabase(): Promise<Kysely<DB>> {
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
  return db;
}

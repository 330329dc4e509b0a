import { existsSync } from 'node:fs';
import { loadPg } from './pg-driver.js';
import type { DatabaseConfig } from '../config/config.js';
import { connectionError, postgresLocation } from './connection-errors.js';

/** What the configured store holds before Confide opens it: a Confide database already, or nothing yet. */
export interface ExistingDatabase {
  exists: boolean;
  /** Where it is, for messages: a file path, or the server, database and schema (never credentials). */
  description: string;
}

// A server that does not answer must not hang start-up: the probe is the first contact.
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Looks without creating anything: on SQLite whether the database file exists; on PostgreSQL
 * whether the connection's schema (its search_path) holds Confide's tables. Only `confide serve`
 * may create a database where there is none, and a new master key only then.
 */
export async function findExistingDatabase(config: DatabaseConfig): Promise<ExistingDatabase> {
  if (config.kind === 'sqlite') return { exists: existsSync(config.file), description: config.file };
  const pg = await loadPg();
  const client = new pg.Client({ connectionString: config.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An error after the connection is given up must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ schema: string | null; tables: number }>(
      `select current_schema() as schema,
              (select count(*)::int from information_schema.tables
                where table_schema = current_schema() and table_name in ('kysely_migration', 'tenants')) as tables`,
    );
    const row = rows[0];
    return { exists: (row?.tables ?? 0) > 0, description: `PostgreSQL ${postgresLocation(config.url)}, schema ${row?.schema ?? '(none)'}` };
  } catch (error) {
    throw connectionError(error, config.url);
  } finally {
    await client.end().catch(() => undefined);
  }
}

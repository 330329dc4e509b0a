import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Config } from '../config/config.js';
import { migrateToLatest, openDatabase, type Database } from '../db/database.js';
import { databaseKeyFile, databasePageKey } from '../keys/database-key.js';
import type { MasterKey } from '../keys/master-key.js';
import { nextDatabaseKeyFile } from '../keys/open-with-page-key.js';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { DEPLOYMENT_MARKER_FILE } from '../app/deployment-marker.js';
import { BACKUP_TABLES, TABLES_NOT_BACKED_UP } from './backup-tables.js';

/** A restore that cannot go ahead as asked (a target that is not empty): one line, exit 1. */
export class RestoreRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreRefusedError';
  }
}

/** What a restore writes besides the database: the blobs' folder and the tenant key directory. */
const filesDir = (config: Readonly<Config>) => join(config.dataDir, 'files');

/**
 * What in the configured place is not empty: tables with rows, tenant key files, blobs. An empty
 * list means a restore may go ahead.
 */
export async function nonEmptyParts(config: Readonly<Config>, database: Database): Promise<string[]> {
  const found: string[] = [];
  for (const table of BACKUP_TABLES) {
    const row = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(database.db);
    if (Number(row.rows[0]?.n ?? 0) > 0) found.push(`table ${table}`);
  }
  const keyDir = config.tenantKeyDir;
  if (keyDir && existsSync(keyDir) && readdirSync(keyDir).some((name) => name.endsWith('.kek') || name.endsWith('.deleted'))) found.push(`tenant key directory ${keyDir}`);
  if (existsSync(filesDir(config)) && readdirSync(filesDir(config)).length > 0) found.push(`file store ${filesDir(config)}`);
  return found;
}

/** Opens (creating on SQLite) and migrates the configured database for a restore. */
export async function openRestoreTarget(config: Readonly<Config>, masterKey: MasterKey): Promise<Database> {
  ensurePrivateDirectory(config.dataDir, 'data directory');
  const database = await openDatabase(config.database, config.database.kind === 'sqlite' ? databasePageKey(config.database.file, masterKey, true) : Buffer.alloc(0));
  try {
    await migrateToLatest(database);
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * Empties the configured place: `--force` before a restore, and a failed restore after itself, so
 * no partial restore is ever left. SQLite: the database file and its key go (a new one is made);
 * PostgreSQL: every table's rows, children first. Then the tenant key files, the blobs and the
 * data directory's deployment marker (it names the deployment being replaced).
 */
export async function emptyRestoreTarget(config: Readonly<Config>, database: Database | null): Promise<void> {
  if (config.database.kind === 'sqlite') {
    await database?.close();
    const file = config.database.file;
    for (const path of [file, `${file}-wal`, `${file}-shm`, databaseKeyFile(file), nextDatabaseKeyFile(file)]) rmSync(path, { force: true });
  } else if (database) {
    await database.db.transaction().execute(async (trx) => {
      for (const table of [...TABLES_NOT_BACKED_UP, ...[...BACKUP_TABLES].reverse()]) await sql`delete from ${sql.table(table)}`.execute(trx);
    });
  }
  const keyDir = config.tenantKeyDir;
  if (keyDir && existsSync(keyDir)) {
    for (const name of readdirSync(keyDir)) if (name.endsWith('.kek') || name.endsWith('.deleted') || name.endsWith('.tmp')) rmSync(join(keyDir, name), { force: true });
  }
  rmSync(filesDir(config), { recursive: true, force: true });
  rmSync(join(config.dataDir, DEPLOYMENT_MARKER_FILE), { force: true });
}

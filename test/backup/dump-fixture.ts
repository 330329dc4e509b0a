import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Database } from '../../src/db/database.js';
import { databasePageKey } from '../../src/keys/database-key.js';
import type { MasterKey } from '../../src/keys/master-key.js';
import { BACKUP_TABLES } from '../../src/backup/backup-tables.js';
import { dumpDatabase, type DumpOptions, type DumpSource } from '../../src/backup/database-dump.js';
import type { DumpLine, EndLine, TableSummary } from '../../src/backup/dump-format.js';
import { sqliteSnapshotOpener } from '../../src/backup/sqlite-snapshot.js';
import type { UntypedDb } from '../../src/db/untyped-db.js';
import { createPostgresSchema, type TestDialect } from '../harness/dialects.js';
import type { TestApp } from '../harness/test-app.js';

/** The options a deployment's dump needs: on SQLite, a second handle on its file. */
export function dumpOptionsFor(t: TestApp, batchRows?: number): DumpOptions {
  const { config, masterKey } = t.app.services;
  return {
    ...(config.database.kind === 'sqlite' ? { openSqliteSnapshot: sqliteSnapshotOpener(config.database.file, masterKey) } : {}),
    ...(batchRows ? { batchRows } : {}),
  };
}

export async function collect(source: DumpSource, options: DumpOptions): Promise<DumpLine[]> {
  const lines: DumpLine[] = [];
  for await (const line of dumpDatabase(source, options)) lines.push(line);
  return lines;
}

export const dumpOf = (t: TestApp) => collect(t.app.services, dumpOptionsFor(t));

/** The dump of a database opened by the test (an EmptyDatabase after a load). */
export const dumpOfDatabase = (target: EmptyDatabase, masterKey: MasterKey, batchRows?: number) =>
  collect(target.database, {
    ...(target.database.dialect.name === 'sqlite' ? { openSqliteSnapshot: sqliteSnapshotOpener(join(target.dataDir, 'confide.db'), masterKey) } : {}),
    ...(batchRows ? { batchRows } : {}),
  });

export const summariesOf = (lines: DumpLine[]): TableSummary[] =>
  lines.filter((line): line is EndLine => line.t === 'end').map(({ table, rows, sha256 }) => ({ table, rows, sha256 }));

/** Everything but the schema line (which names the dialect): the rows, as the dump spells them. */
export const contentOf = (lines: DumpLine[]) => lines.filter((line) => line.t !== 'schema');

/** An empty database of `dialect` (unmigrated unless asked), keyed like `masterKey`'s deployment; the data directory it would serve from. */
export interface EmptyDatabase {
  database: Database;
  dataDir: string;
  /** CONFIDE_DATA_DIR (and CONFIDE_DATABASE_URL) to start Confide on it. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

export async function emptyDatabase(dialect: TestDialect, masterKey: MasterKey, migrated = false): Promise<EmptyDatabase> {
  const root = mkdtempSync(join(tmpdir(), 'confide-load-'));
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const schema = dialect === 'postgres' ? await createPostgresSchema() : undefined;
  const file = join(dataDir, 'confide.db');
  const database = schema
    ? await openDatabase({ kind: 'postgres', url: schema.url }, Buffer.alloc(0))
    : await openDatabase({ kind: 'sqlite', file }, databasePageKey(file, masterKey, true));
  if (migrated) await migrateToLatest(database);
  let closed = false;
  return {
    database,
    dataDir,
    env: { CONFIDE_DATA_DIR: dataDir, ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}) },
    async dispose() {
      if (!closed) await database.close();
      closed = true;
      await schema?.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Rows per backed-up table that exists (an unmigrated database has none). */
export async function rowCounts(database: Database): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of BACKUP_TABLES) {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(database.db as unknown as UntypedDb).catch(() => ({ rows: [{ n: 0 }] }));
    counts[table] = Number(rows[0]!.n);
  }
  return counts;
}

import type Sqlite from 'better-sqlite3-multiple-ciphers';
import type { Kysely } from 'kysely';
import type { Dialect } from '../db/store-dialect.js';
import type { DB } from '../db/schema.js';
import { BACKUP_TABLES } from './backup-tables.js';
import { DumpError } from './dump-error.js';
import { encodeValue, TableChecksum, type DumpLine } from './dump-format.js';
import { PostgresSnapshotReader } from './postgres-snapshot.js';
import { orderedColumns, type SnapshotReader } from './snapshot-reader.js';
import { SqliteSnapshotReader } from './sqlite-snapshot.js';

/** What a dump reads: the deployment's database (Services and Database both fit). */
export interface DumpSource {
  db: Kysely<DB>;
  dialect: Dialect;
}

export interface DumpOptions {
  /**
   * SQLite only, and required there: opens a second, read-only handle on the same database file
   * (`sqliteSnapshotOpener` in sqlite-snapshot.ts), so the dump's long read transaction never
   * holds the app's one connection.
   */
  openSqliteSnapshot?: () => Sqlite.Database;
  /** Rows read per batch before yielding to the event loop (default 500). */
  batchRows?: number;
}

async function openSnapshot(source: DumpSource, options: DumpOptions): Promise<SnapshotReader> {
  if (source.dialect.name === 'postgres') return PostgresSnapshotReader.open(source.db);
  if (!options.openSqliteSnapshot) throw new DumpError('a dump of SQLite needs openSqliteSnapshot (a second handle on the database file)');
  return new SqliteSnapshotReader(options.openSqliteSnapshot());
}

/**
 * The dump lines of every backed-up table (BACKUP_TABLES, parents first), all read from one
 * consistent snapshot taken when iteration starts: what was committed before is in it, nothing
 * committed after is. The snapshot stays open until the iteration ends (or is abandoned through
 * `return()`, as `for await … break` does), so consume it promptly.
 */
export async function* dumpDatabase(source: DumpSource, options: DumpOptions = {}): AsyncGenerator<DumpLine> {
  const batchRows = options.batchRows ?? 500;
  const snapshot = await openSnapshot(source, options);
  let failed = false;
  try {
    yield { t: 'schema', dialect: source.dialect.name, migration: await snapshot.migration() };
    for (const table of BACKUP_TABLES) {
      const columns = orderedColumns(await snapshot.columns(table));
      if (columns.length === 0) throw new DumpError(`table ${table} is missing from the database`);
      yield { t: 'table', table, columns: columns.map((column) => column.name) };
      const checksum = new TableChecksum();
      for await (const batch of snapshot.rows(table, columns, batchRows)) {
        for (const row of batch) {
          const v = row.map((value, i) => encodeValue(value, columns[i]!.integer));
          checksum.add(v);
          yield { t: 'row', v };
        }
      }
      yield { t: 'end', table, rows: checksum.rows, sha256: checksum.digest() };
    }
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // After a failure that failure is the one to tell: on a connection that broke, the rollback in
    // close() fails too and would replace it (Kysely gives the connection back to the pool anyway).
    if (failed) await snapshot.close().catch(() => undefined);
    else await snapshot.close();
  }
}

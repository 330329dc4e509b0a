import { Migrator, sql, type Kysely, type Transaction } from 'kysely';
import { migrationProvider } from '../db/migrations/index.js';
import type { Dialect } from '../db/store-dialect.js';
import type { DB } from '../db/schema.js';
import type { UntypedDb } from '../db/untyped-db.js';
import { BACKUP_TABLES } from './backup-tables.js';
import { DumpError } from './dump-error.js';
import { decodeValue, TableChecksum, type DumpLine, type SchemaLine, type TableSummary } from './dump-format.js';
import { DumpLineReader } from './dump-line-reader.js';

/** Where a load writes: an empty database of either dialect (Services and Database both fit). */
export interface LoadTarget {
  db: Kysely<DB>;
  dialect: Dialect;
}

/** Rows per INSERT: ≤ 22 columns × 500 stays far below either store's bound-parameter limit. */
const INSERT_ROWS = 500;

/**
 * Loads a dump into an empty database of either dialect and returns each table's
 * `{table, rows, sha256}` as loaded and checked. Throws DumpError (naming the table or migration,
 * never a value) on a dump from newer code, a database that holds rows, a table list or columns
 * that differ, or a table whose rows do not match its `end` line's count and checksum.
 *
 * The target may be unmigrated or migrated up to the dump's level: it is migrated to exactly that
 * level first, so the rows go into the schema they were dumped from; the caller then runs
 * migrateToLatest, which carries an older dump's rows forward as it would a live database's. The
 * dump must hold exactly the tables of BACKUP_TABLES that exist at its level, in that order.
 *
 * All rows go in ONE transaction: a load that fails any check leaves no row behind (a restore is
 * never partial), and nobody sees a half-loaded database. It costs one long write transaction,
 * which is what a restore into an empty, not yet serving database can afford (measured for
 * issue 12: about 40,000 rows/s on PostgreSQL and 40,000–75,000 on SQLite, batches of 500 rows).
 */
export async function loadDatabase(target: LoadTarget, lines: AsyncIterable<DumpLine> | Iterable<DumpLine>): Promise<TableSummary[]> {
  const reader = new DumpLineReader(lines);
  const schema = await reader.expect('schema');
  await prepareSchema(target, schema);
  // The tables of the dump's own release: those of BACKUP_TABLES its migration level has made.
  const tables = await existingTables(target, BACKUP_TABLES);
  return target.db.transaction().execute(async (trx) => {
    const summaries: TableSummary[] = [];
    for (const table of tables) summaries.push(await loadTable(trx, target.dialect, reader, table));
    const extra = await reader.next();
    if (extra) throw new DumpError(extra.t === 'table' ? `the dump has a table this code does not know at its migration: ${extra.table}` : 'the dump goes on after its last table');
    return summaries;
  });
}

async function loadTable(trx: Transaction<DB>, dialect: Dialect, reader: DumpLineReader, table: string): Promise<TableSummary> {
  const opened = await reader.expect('table');
  if (opened.table !== table) throw new DumpError(`the dump has table ${opened.table} where this code expects ${table}`);
  await checkColumns(trx, dialect, table, opened.columns);
  const checksum = new TableChecksum();
  let batch: Record<string, unknown>[] = [];
  const flush = async () => {
    if (batch.length > 0) await (trx as unknown as UntypedDb).insertInto(table).values(batch).execute();
    batch = [];
  };
  for (;;) {
    const line = await reader.next();
    if (!line) throw new DumpError(`the dump ends inside table ${table}`);
    if (line.t === 'end') {
      await flush();
      const sha256 = checksum.digest();
      if (line.table !== table || line.rows !== checksum.rows || line.sha256 !== sha256) {
        throw new DumpError(`table ${table} does not match its checksum: ${checksum.rows} rows loaded, the dump says ${line.rows}`);
      }
      return { table, rows: checksum.rows, sha256 };
    }
    if (line.t !== 'row' || !Array.isArray(line.v) || line.v.length !== opened.columns.length) {
      throw new DumpError(`table ${table} has a malformed line in the dump`);
    }
    checksum.add(line.v);
    batch.push(Object.fromEntries(opened.columns.map((column, i) => [column, decodeValue(line.v[i]!, dialect.name)])));
    if (batch.length >= INSERT_ROWS) await flush();
  }
}

/** The dump's columns must be the table's, no more and no fewer (the order is the dump's own). */
async function checkColumns(trx: Transaction<DB>, dialect: Dialect, table: string, columns: readonly string[]): Promise<void> {
  const actual = dialect.name === 'sqlite'
    ? (await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(trx)).rows
    : (await sql<{ name: string }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = ${table}`.execute(trx)).rows;
  const want = [...columns].sort().join(',');
  if (actual.map((row) => row.name).sort().join(',') !== want) throw new DumpError(`table ${table} has other columns in the dump than in the database`);
}

/** Refuses a dump from newer code or a database with rows; migrates the target to the dump's level. */
async function prepareSchema(target: LoadTarget, schema: SchemaLine): Promise<void> {
  const known = Object.keys(await migrationProvider.getMigrations()).sort();
  if (!known.includes(schema.migration)) {
    const latest = known.at(-1);
    throw new DumpError(`the dump is at migration ${schema.migration}, which this release does not know (its latest is ${latest}): restore it with the release that made it, or a newer one`);
  }
  await refuseRows(target);
  const migrationTableSchema = await target.dialect.migrationTableSchema(target.db);
  const migrator = new Migrator({ db: target.db, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
  const applied = (await migrator.getMigrations()).filter((migration) => migration.executedAt).map((migration) => migration.name);
  const level = applied.sort().at(-1);
  if (level && level > schema.migration) {
    throw new DumpError(`the database is already at migration ${level}, past the dump's ${schema.migration}: load into an unmigrated database`);
  }
  if (level !== schema.migration) {
    const { error } = await migrator.migrateTo(schema.migration);
    if (error) throw new DumpError(`migrating the database to ${schema.migration} failed`, { cause: error });
  }
}

async function existingTables(target: LoadTarget, tables: readonly string[]): Promise<string[]> {
  const { rows } = target.dialect.name === 'sqlite'
    ? await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(target.db)
    : await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(target.db);
  const present = new Set(rows.map((row) => row.name));
  return tables.filter((table) => present.has(table));
}

async function refuseRows(target: LoadTarget): Promise<void> {
  const untyped = target.db as unknown as UntypedDb;
  for (const table of await existingTables(target, BACKUP_TABLES)) {
    const row = await untyped.selectFrom(table).select(sql`1`.as('one')).limit(1).executeTakeFirst();
    if (row) throw new DumpError(`the database is not empty (table ${table} has rows): a dump loads only into an empty database`);
  }
}

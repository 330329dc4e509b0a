import type { Kysely } from 'kysely';
import type Database from 'better-sqlite3-multiple-ciphers';

/** What one statement gave: its rows (a query), or how many rows it changed (a command). */
export interface StatementResult<Row> {
  rows: Row[];
  changes: number;
}

/**
 * The embedded database's own handle, for the few statements on every request's path. Kysely's
 * SQLite driver is asynchronous over a synchronous library: each statement passes through its
 * executor, a connection mutex and several promise hops, which cost more than SQLite takes to run
 * the statement. Run here, a statement is the library's call and nothing else.
 */
export interface DirectSqlite {
  /** Runs one compiled statement (from the shared statement cache) with its parameters. */
  run<Row>(sql: string, parameters: readonly unknown[]): StatementResult<Row>;
  /** Runs statements without results or parameters (`SAVEPOINT unit`). */
  exec(sql: string): void;
  /** Whether a transaction is open on the connection. */
  readonly inTransaction: boolean;
}

/** `prepare` is the statement cache Kysely's driver uses too (statement-cache.ts): one compiled statement per SQL text. */
export function directSqlite(handle: Database.Database, prepare: (sql: string) => Database.Statement): DirectSqlite {
  return {
    run<Row>(sql: string, parameters: readonly unknown[]): StatementResult<Row> {
      const statement = prepare(sql);
      if (statement.reader) return { rows: readRows<Row>(statement, parameters), changes: 0 };
      return { rows: [], changes: Number(statement.run(parameters).changes) };
    },
    exec: (sql) => void handle.exec(sql),
    get inTransaction() {
      return handle.inTransaction;
    },
  };
}

// Each statement's column names, read once (columns() costs more than a page of rows).
const columnNames = new WeakMap<Database.Statement, readonly string[]>();

/**
 * The statement's rows as objects keyed by column name, as `all()` gives them, built here from
 * the raw values: better-sqlite3 builds each object natively a property at a time, which costs
 * more than the row (6.5 µs against 4.9 µs for an access-log row of 15 columns). A later column
 * of the same name wins, as in `all()`. Only for a statement that names its columns: SQLite
 * prepares a statement again after a schema change (a migration by a newer release's command),
 * and a `*` could then stand for other columns than the names read once; named columns cannot
 * change without the statement failing. The statement is shared with Kysely's driver, which
 * expects objects: it is raw only for this synchronous call.
 */
function readRows<Row>(statement: Database.Statement, parameters: readonly unknown[]): Row[] {
  if (statement.source.includes('*')) return statement.all(parameters) as Row[];
  let names = columnNames.get(statement);
  if (!names) {
    names = statement.columns().map((column) => column.name);
    columnNames.set(statement, names);
  }
  let values: unknown[][];
  try {
    values = statement.raw(true).all(parameters) as unknown[][];
  } finally {
    statement.raw(false);
  }
  const rows = new Array<Row>(values.length);
  for (let r = 0; r < values.length; r += 1) {
    const row = values[r]!;
    const object: Record<string, unknown> = {};
    for (let c = 0; c < names.length; c += 1) object[names[c]!] = row[c];
    rows[r] = object as Row;
  }
  return rows;
}

/** A Kysely database or transaction, whatever its tables. */
type KyselyHandle = Pick<Kysely<unknown>, 'getExecutor' | 'isTransaction'>;

// Keyed by the Kysely instance's adapter, which the database and all its transactions share (and
// which no other database has): a handle on SQLite finds its connection, one on PostgreSQL none.
const handles = new WeakMap<object, DirectSqlite>();

export function registerDirectSqlite(db: KyselyHandle, direct: DirectSqlite): void {
  handles.set(db.getExecutor().adapter, direct);
}

/**
 * The direct handle for `db` when running a statement through it now means exactly what running it
 * through Kysely would: `db` is a transaction, and the one transaction open on the connection is
 * therefore its own (Kysely holds the connection for it); or `db` is the database and no
 * transaction is open, so the statement autocommits as Kysely's would. While a transaction is
 * open, a statement on the database itself must wait for it (Kysely's mutex does that), lest it
 * read that transaction's uncommitted rows: undefined, so the caller goes through Kysely.
 */
export function directSqliteFor(db: KyselyHandle): DirectSqlite | undefined {
  const direct = handles.get(db.getExecutor().adapter);
  if (!direct) return undefined;
  return direct.inTransaction === db.isTransaction ? direct : undefined;
}

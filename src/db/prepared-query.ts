import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import { directSqliteFor, type StatementResult } from './direct-sqlite.js';

type Build<Row, DB> = (db: Kysely<DB>, ...params: string[]) => Compilable<Row>;

/**
 * A statement built and compiled once, then run with new parameter values: for the few statements
 * on every request's path, where building and compiling Kysely's query tree costs more than
 * running the SQL. The builder receives placeholder strings; their positions in the compiled
 * parameters are found once and the real values put there on each run. On the embedded database
 * the statement then runs on its handle directly (direct-sqlite.ts) whenever that means the same.
 */
function preparedStatement<Row, DB>(build: Build<Row, DB>, arity: number): (db: Kysely<DB>, values: unknown[]) => Promise<StatementResult<Row>> {
  const compiled = new WeakMap<object, { sql: string; parameters: readonly unknown[]; slots: number[][] }>();
  // Keyed by the dialect's adapter: the same SQL serves the database and its transactions.
  const placeholders = Array.from({ length: arity }, (_, i) => `\u0000confide-param-${i}\u0000`);
  return async (db, values) => {
    const key = db.getExecutor().adapter;
    let entry = compiled.get(key);
    if (!entry) {
      const query = build(db, ...placeholders).compile();
      const slots = placeholders.map((placeholder) =>
        query.parameters.flatMap((parameter, index) => (parameter === placeholder ? [index] : [])),
      );
      if (slots.some((positions) => positions.length === 0)) throw new Error('every placeholder must be used as a parameter');
      entry = { sql: query.sql, parameters: query.parameters, slots };
      compiled.set(key, entry);
    }
    const parameters = [...entry.parameters];
    for (let i = 0; i < entry.slots.length; i += 1) for (const position of entry.slots[i]!) parameters[position] = values[i];
    const direct = directSqliteFor(db);
    if (direct) return direct.run<Row>(entry.sql, parameters);
    const result = await db.executeQuery<Row>(CompiledQuery.raw(entry.sql, parameters));
    return { rows: result.rows, changes: Number(result.numAffectedRows ?? 0n) };
  };
}

/** A query compiled once (see preparedStatement): resolves to its rows. */
export function preparedQuery<Row, DB>(build: Build<Row, DB>, arity: number): (db: Kysely<DB>, ...values: unknown[]) => Promise<Row[]> {
  const statement = preparedStatement(build, arity);
  return async (db, ...values) => (await statement(db, values)).rows;
}

/** A command (insert, update, delete) compiled once (see preparedStatement): resolves to how many rows it changed. */
export function preparedCommand<DB>(build: Build<unknown, DB>, arity: number): (db: Kysely<DB>, ...values: unknown[]) => Promise<number> {
  const statement = preparedStatement(build, arity);
  return async (db, ...values) => (await statement(db, values)).changes;
}

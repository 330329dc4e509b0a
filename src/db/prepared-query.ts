import { CompiledQuery, type Compilable, type Kysely } from 'kysely';

/**
 * A query built and compiled once, then run with new parameter values: for the few queries on
 * every request's path, where building and compiling Kysely's query tree costs more than running
 * the SQL. The builder receives placeholder strings; their positions in the compiled parameters
 * are found once and the real values put there on each run.
 */
export function preparedQuery<Row, DB>(
  build: (db: Kysely<DB>, ...params: string[]) => Compilable<Row>,
  arity: number,
): (db: Kysely<DB>, ...values: unknown[]) => Promise<Row[]> {
  const compiled = new WeakMap<object, { sql: string; parameters: readonly unknown[]; slots: number[][] }>();
  // Keyed by the dialect's adapter: the same SQL serves the database and its transactions.
  const placeholders = Array.from({ length: arity }, (_, i) => `\u0000confide-param-${i}\u0000`);
  return async (db, ...values) => {
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
    entry.slots.forEach((positions, i) => positions.forEach((position) => (parameters[position] = values[i])));
    const result = await db.executeQuery<Row>(CompiledQuery.raw(entry.sql, parameters));
    return result.rows;
  };
}

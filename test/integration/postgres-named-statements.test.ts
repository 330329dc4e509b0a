import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, type PostgresSchema } from '../harness/dialects.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { NAMED_STATEMENTS_PER_CONNECTION } from '../../src/db/named-statements.js';

/** The statements this session has prepared under a name (the protocol's, not SQL PREPARE). */
async function preparedOnThisConnection(connection: Kysely<unknown>): Promise<Array<{ name: string; statement: string }>> {
  const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements where not from_sql order by statement`.execute(connection);
  return rows;
}

/** Runs `work` on one connection of Confide's pool, as one request's statements would run. */
function onOneConnection<T>(database: Database, work: (connection: Kysely<unknown>) => Promise<T>): Promise<T> {
  return (database.db as unknown as Kysely<unknown>).connection().execute(work);
}

describe.runIf(DIALECTS.includes('postgres'))('PostgreSQL statements prepared once per connection', () => {
  let schema: PostgresSchema;
  const opened: Database[] = [];
  const open = async (preparedStatements: boolean) => {
    const database = await openDatabase({ kind: 'postgres', url: schema.url, preparedStatements }, Buffer.alloc(0));
    opened.push(database);
    return database;
  };

  beforeAll(async () => {
    schema = await freshPostgresSchema();
    const database = await open(true);
    await sql`create table notes (id int primary key, body text); insert into notes values (1, 'one'), (2, 'two')`.execute(database.db);
  });
  afterAll(async () => {
    for (const database of opened) await database.close();
    await schema.drop();
  });

  it('prepares a parameterised statement under a name once, and runs it by name with each execution’s values', async () => {
    const database = await open(true);
    await onOneConnection(database, async (connection) => {
      const body = (id: number) => sql<{ body: string }>`select body from notes where id = ${id}`.execute(connection);
      expect((await body(1)).rows).toEqual([{ body: 'one' }]);
      expect((await body(2)).rows).toEqual([{ body: 'two' }]);
      expect((await body(3)).rows).toEqual([]);
      // Neither a text without parameters nor one with a `*` is named.
      expect((await sql<{ n: number }>`select count(*)::int as n from notes`.execute(connection)).rows).toEqual([{ n: 2 }]);
      expect((await sql`select * from notes where id = ${1}`.execute(connection)).rows).toEqual([{ id: 1, body: 'one' }]);

      const prepared = await preparedOnThisConnection(connection);
      expect(prepared).toEqual([{ name: expect.stringMatching(/^confide_[0-9a-f]{40}$/), statement: 'select body from notes where id = $1' }]);
    });
  });

  it('names nothing with CONFIDE_DATABASE_PREPARED_STATEMENTS=false', async () => {
    const database = await open(false);
    await onOneConnection(database, async (connection) => {
      expect((await sql<{ body: string }>`select body from notes where id = ${2}`.execute(connection)).rows).toEqual([{ body: 'two' }]);
      expect(await preparedOnThisConnection(connection)).toEqual([]);
    });
  });

  it(`keeps at most ${NAMED_STATEMENTS_PER_CONNECTION} statements prepared on a connection, and runs the rest unnamed`, async () => {
    const database = await open(true);
    await onOneConnection(database, async (connection) => {
      const texts = NAMED_STATEMENTS_PER_CONNECTION + 20;
      for (let i = 0; i < texts; i += 1) {
        const { rows } = await sql<{ sum: number }>`select ${i}::int + ${sql.lit(i)} as sum`.execute(connection);
        expect(rows).toEqual([{ sum: 2 * i }]);
      }
      // A text named before the bound was reached is still run by its name.
      expect((await sql<{ sum: number }>`select ${5}::int + ${sql.lit(0)} as sum`.execute(connection)).rows).toEqual([{ sum: 5 }]);
      expect(await preparedOnThisConnection(connection)).toHaveLength(NAMED_STATEMENTS_PER_CONNECTION);
    });
  });
});

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, postgresBaseUrl, schemaOfUrl } from '../harness/dialects.js';
import { createTestApp } from '../harness/test-app.js';

async function schemaExists(schema: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresBaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query('select 1 from information_schema.schemata where schema_name = $1', [schema]);
    return rows.length === 1;
  } finally {
    await client.end();
  }
}

/**
 * Runs against CONFIDE_TEST_DATABASE_URL use a server that outlives them: the harness drops every
 * schema it creates there (issue 7, item 5), when a test app closes or when the test that made
 * a schema for its own server process finishes.
 */
describe.runIf(DIALECTS.includes('postgres'))('the test harness leaves no PostgreSQL schema behind', () => {
  it('a closed test app has dropped its schema, tables and all', async () => {
    const t = await createTestApp('postgres');
    const schema = schemaOfUrl(t.env.CONFIDE_DATABASE_URL!);
    expect(schema).toMatch(/^t_[0-9a-f]{12}$/);
    expect(await schemaExists(schema!)).toBe(true);
    await t.close();
    expect(await schemaExists(schema!)).toBe(false);
  });

  let madeInTest: string | undefined;
  it('a schema made inside a test (for a server process) exists while the test runs', async () => {
    madeInTest = (await freshPostgresSchema()).schema;
    expect(await schemaExists(madeInTest)).toBe(true);
  });

  it('... and is dropped once that test has finished', async () => {
    expect(madeInTest).toBeDefined();
    expect(await schemaExists(madeInTest!)).toBe(false);
  });
});

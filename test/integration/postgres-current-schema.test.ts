import { Kysely, PostgresDialect, sql, type Dialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, onBaseServer, schemaOfUrl } from '../harness/dialects.js';
import { CurrentSchemaPostgresDialect } from '../../src/db/current-schema-introspector.js';
import { createTestApp } from '../harness/test-app.js';

/**
 * Lists the tables while another session drops a schema that the listing's snapshot still holds:
 * the introspection runs in a REPEATABLE READ transaction whose snapshot was taken before the drop
 * committed, so its scan of pg_namespace still finds the schema while a lookup by name no longer
 * does. This is the race a concurrent DROP SCHEMA makes, held still.
 */
async function tablesWhileAnotherSchemaIsDropped(dialect: (pool: pg.Pool) => Dialect, url: string) {
  const doomed = await freshPostgresSchema();
  await onBaseServer(`CREATE TABLE ${doomed.schema}.notes (id int)`);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const db = new Kysely<unknown>({ dialect: dialect(pool) });
  try {
    return await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await sql`select 1 from pg_catalog.pg_namespace`.execute(trx); // takes the snapshot
        await doomed.drop();
        return trx.introspection.getTables({ withInternalKyselyTables: true });
      });
  } finally {
    await db.destroy();
  }
}

describe.runIf(DIALECTS.includes('postgres'))('Confide in a PostgreSQL database it shares', () => {
  it('looks only at its own schema: a schema dropped by someone else meanwhile does not fail it, as it fails Kysely’s own introspector', async () => {
    const own = await freshPostgresSchema();
    await onBaseServer(`CREATE TABLE ${own.schema}.mine (id int, tenant_id text)`);

    const tables = await tablesWhileAnotherSchemaIsDropped((pool) => new CurrentSchemaPostgresDialect({ pool }), own.url);
    expect(tables.map((table) => ({ schema: table.schema, name: table.name, columns: table.columns.map((column) => column.name) }))).toEqual([
      { schema: own.schema, name: 'mine', columns: ['id', 'tenant_id'] },
    ]);

    // The failure this guards against (kysely-org/kysely#1419, #1537): Kysely's introspector, used by
    // its Migrator before every migration, scans every schema, and fails on the one just dropped.
    await expect(tablesWhileAnotherSchemaIsDropped((pool) => new PostgresDialect({ pool }), own.url)).rejects.toThrow(/schema "t_[0-9a-f]+" does not exist/);
  });

  it('migrates and serves beside another deployment’s schema, introspecting only its own tables', async () => {
    const neighbour = await createTestApp('postgres');
    const t = await createTestApp('postgres');
    try {
      const schemaOf = (env: Record<string, string>) => schemaOfUrl(env.CONFIDE_DATABASE_URL!);
      const tables = await t.app.services.db.introspection.getTables({ withInternalKyselyTables: true });
      expect(new Set(tables.map((table) => table.schema))).toEqual(new Set([schemaOf(t.env)]));
      expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['records', 'access_log', 'kysely_migration', 'kysely_migration_lock']));
      expect(schemaOf(neighbour.env)).not.toBe(schemaOf(t.env));
    } finally {
      await t.close();
      await neighbour.close();
    }
  });
});

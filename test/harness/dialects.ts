import { randomBytes } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import { getCurrentTest } from 'vitest/suite';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

/** The dialects this run covers: integration suites do `describe.each(DIALECTS)`. */
export const DIALECTS = inject('dialects') as TestDialect[];

export interface PostgresSchema {
  /** The URL to give Confide: the run's server, with `search_path` set to this schema. */
  url: string;
  schema: string;
  /** Drops the schema and everything in it (idempotent). */
  drop(): Promise<void>;
}

/** Runs one statement on the run's PostgreSQL server, outside any test schema. */
export async function onBaseServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresBaseUrl() });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty PostgreSQL schema for one test app, reached through `search_path`, so suites
 * never see each other's rows. The caller drops it when done: createTestApp's close() does.
 * Use freshPostgresSchema inside a test to have it dropped when the test finishes.
 */
export async function createPostgresSchema(): Promise<PostgresSchema> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  await onBaseServer(`CREATE SCHEMA ${schema}`);
  const url = new URL(postgresBaseUrl());
  url.searchParams.set('options', `-c search_path=${schema}`);
  // A server given by CONFIDE_TEST_DATABASE_URL outlives the run: leave no schema behind on it.
  return { url: url.toString(), schema, drop: () => onBaseServer(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}

/** The schema a Confide database URL of the harness names (its `search_path` option), if any. */
export function schemaOfUrl(url: string): string | undefined {
  return /search_path=(\w+)/.exec(new URL(url).searchParams.get('options') ?? '')?.[1];
}

/**
 * As createPostgresSchema; made inside a test (a `confide serve` process of its own), the schema
 * is dropped when that test finishes, after its afterEach hooks have stopped the server.
 */
export async function freshPostgresSchema(): Promise<PostgresSchema> {
  const created = await createPostgresSchema();
  if (getCurrentTest()) onTestFinished(() => created.drop());
  return created;
}

export function postgresBaseUrl(): string {
  const base = inject('postgresUrl');
  if (!base) throw new Error('PostgreSQL is not available in this run');
  return base;
}

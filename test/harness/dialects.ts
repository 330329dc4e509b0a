import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

/** The dialects this run covers: integration suites do `describe.each(DIALECTS)`. */
export const DIALECTS = inject('dialects') as TestDialect[];

/**
 * A fresh, empty PostgreSQL schema for one test app, reached through `search_path`,
 * so suites never see each other's rows. Returns the URL to give Confide.
 */
export async function freshPostgresSchema(): Promise<{ url: string; schema: string }> {
  const base = inject('postgresUrl');
  if (!base) throw new Error('PostgreSQL is not available in this run');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), schema };
}

export function postgresBaseUrl(): string {
  const base = inject('postgresUrl');
  if (!base) throw new Error('PostgreSQL is not available in this run');
  return base;
}

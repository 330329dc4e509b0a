import type pg from 'pg';

/**
 * node-postgres, loaded when a PostgreSQL database is configured: the embedded default (and every
 * `confide` command on it) never needs it, and loading it costs a start about 70 ms.
 */
export async function loadPg(): Promise<typeof pg> {
  return (await import('pg')).default;
}

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, postgresBaseUrl } from '../harness/dialects.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/*
 * Issue 12, item 6: when the PostgreSQL primary dies or fails over, every connection Confide holds
 * breaks. One held by a transaction between two of its queries (awaiting a key, a hash, the next
 * step) is checked out of the pool, where nothing listened for its 'error' event, so Node ended the
 * whole `confide serve` process ("Connection terminated unexpectedly"): both nodes of the Patroni
 * demo (scripts/ha-demo.sh) died at the kill. Run in a process of its own, since that is what died.
 */
const PROGRAM = `
import pg from 'pg';
import { sql } from 'kysely';
import { openDatabase } from './src/db/database.ts';

const database = await openDatabase({ kind: 'postgres', url: process.env.SCHEMA_URL }, Buffer.alloc(0));
const killer = new pg.Client({ connectionString: process.env.BASE_URL });
await killer.connect();
const outcome = await database.db.transaction().execute(async (trx) => {
  const { rows } = await sql\`select pg_backend_pid() as pid\`.execute(trx);
  await killer.query('select pg_terminate_backend($1)', [rows[0].pid]);
  // The connection breaks while the transaction holds it and runs no query.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await sql\`select 1\`.execute(trx);
}).then(() => 'committed', () => 'failed');
const { rows } = await sql\`select 41 + 1 as answer\`.execute(database.db);
await killer.end();
await database.close();
console.log(JSON.stringify({ transaction: outcome, next: rows[0].answer }));
`;

describe.runIf(DIALECTS.includes('postgres'))('a PostgreSQL connection lost inside a transaction', () => {
  it('fails that transaction only: the process lives and the pool serves the next query on a new connection', async () => {
    const schema = await freshPostgresSchema();
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROGRAM], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', SCHEMA_URL: schema.url, BASE_URL: postgresBaseUrl() },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stderr).not.toContain('Connection terminated unexpectedly');
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ transaction: 'failed', next: 42 });
  });
});

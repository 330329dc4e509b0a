import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess } from '../harness/server-process.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/dev-postgres.sh', import.meta.url));

function script(command: string, env: Record<string, string>) {
  const result = spawnSync('bash', [SCRIPT, command], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * scripts/dev-postgres.sh, the road to PostgreSQL in the README (issue 7, item 5): a cluster of its
 * own in a temporary folder on a free port (DEV_PG_DIR, DEV_PG_PORT), so the suite's own
 * throwaway cluster is never touched.
 */
describe('scripts/dev-postgres.sh', () => {
  it('says to install PostgreSQL when its programs are missing', () => {
    const result = script('start', { DEV_PG_BIN: '/nonexistent/postgresql/bin', DEV_PG_DIR: join(tmpdir(), 'never-created') });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt-get install postgresql');
    expect(result.stdout).toBe('');
    expect(existsSync(join(tmpdir(), 'never-created'))).toBe(false);
  });

  it.runIf(inject('postgresBinDir'))(
    'starts a loopback cluster with a `confide` database, prints the URL, starts twice, serves Confide, and stops',
    { timeout: 180_000 },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'confide-devpg-'));
      chmodSync(root, 0o755); // as root the cluster runs as `postgres`, which must reach it
      const port = await freePort();
      const env = { DEV_PG_DIR: join(root, 'pg'), DEV_PG_PORT: String(port) };
      const expected = `CONFIDE_DATABASE_URL=postgres://postgres@127.0.0.1:${port}/confide\n`;
      try {
        const started = script('start', env);
        expect(started.status, started.stderr).toBe(0);
        expect(started.stdout).toBe(expected);
        const again = script('start', env);
        expect(again.status, again.stderr).toBe(0);
        expect(again.stdout).toBe(expected);
        expect(again.stderr).toContain('already running');
        expect(script('url', env).stdout).toBe(expected);
        expect(script('status', env).status).toBe(0);

        const url = expected.trim().slice('CONFIDE_DATABASE_URL='.length);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query<{ db: string; listen: string }>(
          "select current_database() as db, current_setting('listen_addresses') as listen",
        );
        await client.end();
        expect(rows[0]).toEqual({ db: 'confide', listen: '127.0.0.1' });

        const server = await startServerProcess(
          { CONFIDE_DATABASE_URL: url, CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'info' },
          await freePort(),
        );
        try {
          expect((await httpsJson(server.port, 'GET', '/healthz')).status).toBe(200);
        } finally {
          await killHard(server);
        }

        const stopped = script('stop', env);
        expect(stopped.status, stopped.stderr).toBe(0);
        expect(script('status', env).status).toBe(3);
        const refused = new pg.Client({ connectionString: url });
        await expect(refused.connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      } finally {
        script('stop', env);
        rmSync(root, { recursive: true, force: true });
      }
    },
  );
});

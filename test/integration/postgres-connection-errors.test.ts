import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS, postgresBaseUrl } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';

const PASSWORD = 'never-print-this-s3cret';

/**
 * A PostgreSQL server Confide cannot reach or enter is named in one line with the variable to fix,
 * "cannot connect to PostgreSQL at host:port/db (CONFIDE_DATABASE_URL): reason", and never with the
 * password (issue 7, item 5; ASVS 16.2.5: no credentials in output).
 */
describe('PostgreSQL connection errors name CONFIDE_DATABASE_URL, never the password', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });
  const run = (command: string[], databaseUrl: string) => {
    const root = mkdtempSync(join(tmpdir(), 'confide-pgerr-'));
    roots.push(root);
    const result = runCli(command, {
      CONFIDE_DATA_DIR: join(root, 'data'),
      CONFIDE_MASTER_KEY_FILE: join(root, 'keys', 'master.key'),
      CONFIDE_DATABASE_URL: databaseUrl,
    });
    return { ...result, created: readdirSync(root) };
  };

  it('a closed port: one line naming host:port/db and the variable, for `serve` and `audit verify`', async () => {
    const port = await freePort(); // free a moment ago: nothing listens there
    for (const command of [['serve'], ['audit', 'verify']]) {
      const result = run(command, `postgres://confide:${PASSWORD}@127.0.0.1:${port}/confide`);
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toBe(
        `confide: cannot connect to PostgreSQL at 127.0.0.1:${port}/confide (CONFIDE_DATABASE_URL): connection refused (is PostgreSQL running and listening there?)\n`,
      );
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
      expect(result.created).toEqual([]); // neither key nor data directory for a server that was never reached
    }
  });

  it.runIf(DIALECTS.includes('postgres'))('a database that does not exist: one line naming it and how to create it', () => {
    const url = new URL(postgresBaseUrl());
    url.password = PASSWORD; // the test cluster trusts loopback, so this is sent but not needed
    url.pathname = '/no_such_confide_db';
    const result = run(['serve'], url.toString());
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toBe(
      `confide: cannot connect to PostgreSQL at ${url.hostname}:${url.port}/no_such_confide_db (CONFIDE_DATABASE_URL): ` +
        'database "no_such_confide_db" does not exist; create it (createdb, or scripts/dev-postgres.sh start for a local one)\n',
    );
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    expect(result.created).toEqual([]);
  });

  it.runIf(DIALECTS.includes('postgres'))('a user the server does not know: one line, no password', () => {
    const url = new URL(postgresBaseUrl());
    url.username = 'no_such_confide_user';
    url.password = PASSWORD;
    const result = run(['audit', 'verify'], url.toString());
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^confide: cannot connect to PostgreSQL at ${url.hostname}:${url.port}/postgres \\(CONFIDE_DATABASE_URL\\): .*no_such_confide_user.*\\n$`),
    );
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });
});

import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, type TestDialect } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { runCli } from '../harness/run-cli.js';
import { freePort } from '../harness/free-port.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp } from '../../src/app/create-app.js';
import { DeploymentMismatchError, describeDatabase } from '../../src/app/deployment-marker.js';

const EX_CONFIG = 78;

interface Marker {
  format: string;
  deploymentId: string;
  database: string;
}
const sqliteFiles = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('confide.db'));
const markerOf = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, 'deployment.json'), 'utf8')) as Marker;

/**
 * One data directory, one deployment (issue 7, item 4): a PostgreSQL run started from the folder
 * of a SQLite run (or the other way round) is refused with one line naming both deployments,
 * instead of writing mail into a folder whose other files it cannot read.
 */
describe.each(DIALECTS)('the data directory belongs to one deployment, on %s', (dialect: TestDialect) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function first(): Promise<TestApp> {
    const t = await createTestApp(dialect);
    cleanup.push(() => t.close());
    return t;
  }

  it('writes the deployment id (kept in system_meta) into the data directory on first start, 0600, and keeps it', async () => {
    const t = await first();
    const { value } = await t.app.services.db.selectFrom('system_meta').select('value').where('key', '=', 'deployment_id').executeTakeFirstOrThrow();
    expect(markerOf(t.dataDir)).toEqual({ format: 'confide-deployment-v1', deploymentId: value, database: describeDatabase(t.app.config.database) });
    expect(statSync(join(t.dataDir, 'deployment.json')).mode & 0o777).toBe(0o600);
    // A later command on the same deployment agrees with it.
    const listed = runCli(['mail', 'outbox'], t.env);
    expect(listed.status, listed.stderr).toBe(0);
    expect(markerOf(t.dataDir).deploymentId).toBe(value);
  });

  /** Another database for the same data directory: the other kind where this run has it, else a new one of the same kind. */
  async function otherDatabaseEnv(t: TestApp, kind: TestDialect): Promise<Record<string, string>> {
    const { CONFIDE_DATABASE_URL: _ours, ...env } = t.env;
    if (kind === 'postgres') return { ...env, CONFIDE_DATABASE_URL: (await freshPostgresSchema()).url };
    if (dialect === 'sqlite') {
      // The same folder with its SQLite database moved away: a new, empty database would be made there.
      await t.app.close();
      cleanup.pop();
      cleanup.push(async () => rmSync(join(t.dataDir, '..'), { recursive: true, force: true }));
      for (const name of sqliteFiles(t.dataDir)) renameSync(join(t.dataDir, name), join(t.dataDir, `old-${name}`));
    }
    return env;
  }

  const others: TestDialect[] = dialect === 'sqlite' ? ['postgres', 'sqlite'] : ['sqlite', 'postgres'];
  for (const other of others) {
    it.runIf(DIALECTS.includes(other))(`refuses a ${other} database on that data directory: exit 78, one line naming both deployments, in serve and every command`, async () => {
      const t = await first();
      const owner = markerOf(t.dataDir);
      const env = await otherDatabaseEnv(t, other);
      const newcomer = describeDatabase(loadConfig(env).database);
      const before = readdirSync(t.dataDir).sort();

      // A new database is refused before it is created (no SQLite file appears in the other's folder).
      const serve = runCli(['serve'], { ...env, CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${await freePort()}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` });
      expect(serve.status, serve.stderr).toBe(EX_CONFIG);
      expect(serve.stderr).toBe(
        `confide: data directory ${t.dataDir} belongs to deployment ${owner.deploymentId} (${owner.database}), and ${newcomer} holds no Confide database yet; ` +
          `give each deployment its own CONFIDE_DATA_DIR (the directory's owner is named in ${join(t.dataDir, 'deployment.json')})\n`,
      );
      expect(readdirSync(t.dataDir).sort()).toEqual(before);
      expect(markerOf(t.dataDir)).toEqual(owner);

      // A database that exists (made elsewhere) and is then pointed at this folder: refused in process and by every command.
      const elsewhereDir = join(t.dataDir, '..', 'elsewhere');
      const elsewhere = await createApp(loadConfig({ ...env, CONFIDE_DATA_DIR: elsewhereDir }), { startWorkers: false, createIfMissing: true });
      await elsewhere.close();
      const theirs = markerOf(elsewhereDir).deploymentId;
      // A SQLite database lives in its data directory: it comes to this folder as a copied file.
      if (other === 'sqlite') for (const name of sqliteFiles(elsewhereDir)) copyFileSync(join(elsewhereDir, name), join(t.dataDir, name));
      const line =
        `data directory ${t.dataDir} belongs to deployment ${owner.deploymentId} (${owner.database}), not to this one, ` +
        `deployment ${theirs} (${newcomer}); give each deployment its own CONFIDE_DATA_DIR`;
      await expect(createApp(loadConfig(env), { startWorkers: false, createIfMissing: true })).rejects.toThrow(new DeploymentMismatchError(line));
      for (const command of [['serve'], ['mail', 'outbox'], ['audit', 'verify']]) {
        const result = runCli(command, { ...env, CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${await freePort()}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` });
        expect(result.status, `${command.join(' ')}: ${result.stderr}`).toBe(EX_CONFIG);
        expect(result.stderr).toBe(`confide: ${line}\n`);
        expect(result.stdout).toBe('');
      }
      expect(markerOf(t.dataDir)).toEqual(owner);
    });
  }

  it('refuses a damaged marker with one line naming the file', async () => {
    const t = await first();
    writeFileSync(join(t.dataDir, 'deployment.json'), '{"format":', { mode: 0o600 });
    const result = runCli(['mail', 'outbox'], t.env);
    expect(result.status).toBe(EX_CONFIG);
    expect(result.stderr).toBe(
      `confide: the deployment marker ${join(t.dataDir, 'deployment.json')} is damaged; if this data directory belongs to this database, delete the file and start again\n`,
    );
    expect(existsSync(join(t.dataDir, 'deployment.json'))).toBe(true);
  });
});

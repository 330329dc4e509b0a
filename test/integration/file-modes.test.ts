import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp } from '../../src/app/create-app.js';
import { UnsafePathError } from '../../src/lib/private-path.js';
import { DIALECTS, freshPostgresSchema, type TestDialect } from '../harness/dialects.js';
import { createTestApp } from '../harness/test-app.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess } from '../harness/server-process.js';
import { runCli } from '../harness/run-cli.js';

/** Every directory and file under `root`, with its permission bits, as `relative path → mode`. */
function modesUnder(root: string): Map<string, number> {
  const modes = new Map<string, number>([['.', statSync(root).mode & 0o777]]);
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    modes.set(relative(root, path), statSync(path).mode & 0o777);
  }
  return modes;
}

/** Asserts that every directory under `root` (itself included) is 0700 and every file 0600. */
function expectPrivateTree(root: string): Map<string, number> {
  const modes = modesUnder(root);
  for (const [path, mode] of modes) {
    const isDirectory = statSync(join(root, path)).isDirectory();
    expect({ path, mode: mode.toString(8) }).toEqual({ path, mode: isDirectory ? '700' : '600' });
  }
  return modes;
}

const uid = process.getuid?.() ?? -1;

describe('file modes and unsafe directories', () => {
  const roots: string[] = [];
  const freshRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-modes-'));
    roots.push(root);
    return root;
  };
  const cleanup: Array<() => Promise<void>> = [];
  // A permissive umask, as most shells have: the modes below must come from Confide, not the umask.
  let previousUmask = 0;
  beforeAll(() => {
    previousUmask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(previousUmask);
  });
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  const databaseEnv = async (dialect: TestDialect): Promise<Record<string, string>> =>
    dialect === 'postgres' ? { CONFIDE_DATABASE_URL: (await freshPostgresSchema()).url } : {};

  describe.each(DIALECTS)('on %s', (dialect) => {
    it('creates the data directory 0700 and every file under it 0600 (in process, umask 022)', async () => {
      const t = await createTestApp(dialect);
      cleanup.push(() => t.close());
      const { services } = t.app;
      await services.transactions.run((trx) =>
        services.mail.enqueue(trx, services.keyRing.systemCipher(), { to: 'modes@example.test', subject: 's', text: 't' }),
      );
      await services.mail.kick();

      const modes = expectPrivateTree(t.dataDir);
      const files = [...modes.keys()];
      expect(files).toEqual(expect.arrayContaining(['tls/self-signed-cert.pem', 'tls/self-signed-key.pem']));
      expect(files.filter((path) => path.startsWith('outbox/') && path.endsWith('.eml.enc'))).toHaveLength(1);
      if (dialect === 'sqlite') expect(files).toEqual(expect.arrayContaining(['confide.db', 'confide.db-wal', 'confide.db-shm']));
    });

    it('`confide serve` keeps the data and key directories 0700 and every file 0600, outbox mail included', async () => {
      const root = freshRoot();
      const dataDir = join(root, 'data');
      const keyDir = join(root, 'keys');
      const server = await startServerProcess(
        { CONFIDE_DATA_DIR: dataDir, CONFIDE_MASTER_KEY_FILE: join(keyDir, 'master.key'), CONFIDE_LOG_LEVEL: 'warn', ...(await databaseEnv(dialect)) },
        await freePort(),
      );
      cleanup.push(() => killHard(server));
      const email = `modes.${randomBytes(4).toString('hex')}@example.test`;
      const signup = await httpsJson(server.port, 'POST', '/v1/signup', { organization: 'Modes Ltd', email, password: 'correct horse battery staple 42' });
      expect(signup.status).toBe(201);
      expect((await httpsJson(server.port, 'POST', '/v1/password-resets', { email })).status).toBe(202);
      const outbox = join(dataDir, 'outbox');
      const deadline = Date.now() + 30_000;
      while (!(existsSync(outbox) && readdirSync(outbox).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

      const modes = expectPrivateTree(dataDir);
      const files = [...modes.keys()];
      expect(files).toEqual(expect.arrayContaining(['tls/self-signed-cert.pem', 'tls/self-signed-key.pem']));
      expect(files.filter((path) => path.startsWith('outbox/') && path.endsWith('.eml.enc')).length).toBeGreaterThan(0);
      if (dialect === 'sqlite') expect(files).toEqual(expect.arrayContaining(['confide.db', 'confide.db-wal', 'confide.db-shm']));
      // The tenant's key-encryption key sits beside the master key (CONFIDE_TENANT_KEY_DIR's default), private too.
      expect([...expectPrivateTree(keyDir).keys()]).toEqual(['.', 'master.key', 'tenants', `tenants/${signup.body.tenant.id}.kek`]);
    });

    it('refuses to start on a pre-existing 0755 data directory: exit 78, one line naming it, nothing written', async () => {
      const root = freshRoot();
      const dataDir = join(root, 'data');
      mkdirSync(dataDir, { mode: 0o755 });
      chmodSync(dataDir, 0o755);
      const result = runCli(['serve'], {
        CONFIDE_DATA_DIR: dataDir,
        CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
        ...(await databaseEnv(dialect)),
      });
      expect(result.status, result.stderr).toBe(78);
      expect(result.stderr).toBe(`confide: data directory ${dataDir} is accessible by group or others (mode 0755); run chmod 700 ${dataDir}\n`);
      expect(readdirSync(dataDir)).toEqual([]);
      expect(statSync(dataDir).mode & 0o777).toBe(0o755); // refused, not silently changed
    });

    it('starts with a fresh data directory inside a 0755 parent, and with an existing 0700 one', async () => {
      const parent = freshRoot();
      chmodSync(parent, 0o755);
      const env = { CONFIDE_DATA_DIR: join(parent, 'data'), CONFIDE_MASTER_KEY_FILE: join(parent, 'keys', 'master.key'), CONFIDE_LOG_LEVEL: 'silent', ...(await databaseEnv(dialect)) };
      const app = await createApp(loadConfig(env, parent), { startWorkers: false, createIfMissing: true });
      await app.close();
      expect(statSync(env.CONFIDE_DATA_DIR).mode & 0o777).toBe(0o700);
      expect(statSync(join(parent, 'keys')).mode & 0o777).toBe(0o700);
      const again = await createApp(loadConfig(env, parent), { startWorkers: false, createIfMissing: true });
      await again.close();
      expectPrivateTree(env.CONFIDE_DATA_DIR);
    });
  });

  it('refuses a 0755 master key directory: exit 78, one line naming it', () => {
    const root = freshRoot();
    const keyDir = join(root, 'keys');
    mkdirSync(keyDir);
    chmodSync(keyDir, 0o755);
    const result = runCli(['serve'], { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY_FILE: join(keyDir, 'master.key') });
    expect(result.status, result.stderr).toBe(78);
    expect(result.stderr).toBe(`confide: master key directory ${keyDir} is accessible by group or others (mode 0755); run chmod 700 ${keyDir}\n`);
    expect(readdirSync(keyDir)).toEqual([]); // no key generated into it
  });

  it('refuses a 0644 master key file: exit 78, one line naming it, no stack trace', async () => {
    const root = freshRoot();
    const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY_FILE: join(root, 'keys', 'master.key'), CONFIDE_LOG_LEVEL: 'silent' };
    const app = await createApp(loadConfig(env, root), { startWorkers: false, createIfMissing: true });
    await app.close();
    chmodSync(env.CONFIDE_MASTER_KEY_FILE, 0o644);
    const result = runCli(['serve'], env);
    expect(result.status, result.stderr).toBe(78);
    expect(result.stderr).toBe(`confide: master key file ${env.CONFIDE_MASTER_KEY_FILE} is accessible by group or others (mode 0644); run chmod 600 ${env.CONFIDE_MASTER_KEY_FILE}\n`);
  });

  it('refuses any group or other access bit on the data directory, not only 0755', async () => {
    for (const mode of [0o750, 0o710, 0o701, 0o777]) {
      const root = freshRoot();
      const dataDir = join(root, 'data');
      mkdirSync(dataDir);
      chmodSync(dataDir, mode);
      const config = loadConfig({ CONFIDE_DATA_DIR: dataDir, CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'silent' }, root);
      const outcome = await createApp(config, { startWorkers: false, createIfMissing: true }).then(
        async (app) => {
          await app.close();
          return 'started';
        },
        (error: unknown) => error,
      );
      expect(outcome, mode.toString(8)).toBeInstanceOf(UnsafePathError);
      expect((outcome as Error).message).toContain(`(mode 0${mode.toString(8)})`);
    }
  });

  // Only root can hand a directory to another user (chown); CI runs as root, so it runs there.
  it.skipIf(uid !== 0)('refuses a data directory owned by another user, even when run as root: exit 78', () => {
    const root = freshRoot();
    const dataDir = join(root, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    chownSync(dataDir, 65534, 65534);
    const result = runCli(['serve'], { CONFIDE_DATA_DIR: dataDir, CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(result.status, result.stderr).toBe(78);
    expect(result.stderr).toBe(
      `confide: data directory ${dataDir} is owned by uid 65534, not by the user running Confide (uid 0); run chown 0 ${dataDir}, or run Confide as its owner\n`,
    );
  });

  it('takes group and other access away from a database left 0644 by an earlier version', async () => {
    const root = freshRoot();
    const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'silent' };
    const app = await createApp(loadConfig(env, root), { startWorkers: false, createIfMissing: true });
    await app.close();
    const db = join(env.CONFIDE_DATA_DIR, 'confide.db');
    chmodSync(db, 0o644);
    const again = await createApp(loadConfig(env, root), { startWorkers: false, createIfMissing: true });
    cleanup.push(() => again.close());
    expect(statSync(db).mode & 0o777).toBe(0o600);
    expectPrivateTree(env.CONFIDE_DATA_DIR);
  });
});

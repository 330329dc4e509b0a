import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openEncryptedSqlite } from '../../src/db/open-encrypted-sqlite.js';
import { databasePageKey, readDatabaseKey, writeDatabaseKey } from '../../src/keys/database-key.js';
import { masterKeyProvider } from '../../src/keys/master-key-provider.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';

/**
 * A master key change on SQLite cannot be one transaction (PRAGMA rekey is not transactional), so
 * it is ordered for a crash at any point to leave a database that starts (src/keys/sqlite-rekey.ts).
 * These tests put the files in the state each crash leaves, and start Confide on it.
 */
const quiet = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function readsEverything(env: Record<string, string>, tenant: TestTenant, recordId: string): Promise<void> {
  const app = await createApp(loadConfig(env, '/'), { startWorkers: false, logDestination: quiet() });
  try {
    const read = await app.publicServer.inject({ method: 'GET', url: `/v1/collections/patients/records/${recordId}`, headers: { authorization: `Bearer ${tenant.token}` } });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ diagnosis: 'after a crash' });
  } finally {
    await app.close();
  }
}

describe('a master key change stopped part-way (SQLite)', () => {
  let t: TestApp | undefined;
  const roots: string[] = [];
  afterEach(async () => {
    await t?.close().catch(() => undefined);
    t = undefined;
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  async function deployment() {
    const keys = mkdtempSync(join(tmpdir(), 'confide-crash-'));
    roots.push(keys);
    const keyFile = join(keys, 'keys', 'master.key');
    t = await createTestApp('sqlite', { env: { CONFIDE_MASTER_KEY: '', CONFIDE_MASTER_KEY_FILE: keyFile } });
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'after a crash' });
    await t.app.close();
    const database = join(t.dataDir, 'confide.db');
    const current = await masterKeyProvider({ kind: 'file', file: keyFile }).load({ create: false, existingDatabase: database });
    return { t, keyFile, tenant, recordId: record.id, database, current };
  }

  it('before the pages were re-keyed: a staged page key that never applied is ignored, and the change can run again', async () => {
    const { t, tenant, recordId, database, current } = await deployment();
    writeDatabaseKey(`${database}.key.next`, current, randomBytes(32));
    await readsEverything(t.env, tenant, recordId);
    const rotated = runCli(['keys', 'rotate-master', '--json'], t.env);
    expect(rotated.status, rotated.stderr).toBe(0);
    await readsEverything({ ...t.env, ...JSON.parse(rotated.stdout).settings }, tenant, recordId);
  });

  it('after the pages were re-keyed, before the new page key was moved into place: the staged key opens them', async () => {
    const { t, tenant, recordId, database, current } = await deployment();
    // Steps 1 and 2 of rekeySqlite, by hand: stage the new page key under the current master key, re-key.
    const pageKey = randomBytes(32);
    writeDatabaseKey(`${database}.key.next`, current, pageKey);
    const handle = openEncryptedSqlite(database, databasePageKey(database, current, false));
    handle.pragma('journal_mode=DELETE');
    handle.pragma(`rekey="x'${pageKey.toString('hex')}'"`);
    handle.close();
    await readsEverything(t.env, tenant, recordId);
    expect(existsSync(`${database}.key.next`)).toBe(false); // moved into place by that start
    expect(readDatabaseKey(`${database}.key`, current)).toEqual(pageKey);
  });

  it('after the re-wrap committed, before the staged key was moved into place: the new master key starts it, the old one is refused', async () => {
    const { t, keyFile, tenant, recordId, database, current } = await deployment();
    const rotated = runCli(['keys', 'rotate-master', '--json'], t.env);
    expect(rotated.status, rotated.stderr).toBe(0);
    const settings = JSON.parse(rotated.stdout).settings as Record<string, string>;
    // Put back the state just before the last step: `.key` under the old master key, `.key.next` under the new one.
    const next = await masterKeyProvider({ kind: 'file', file: settings.CONFIDE_MASTER_KEY_FILE! }).load({ create: false, existingDatabase: database });
    const pageKey = readDatabaseKey(`${database}.key`, next);
    writeDatabaseKey(`${database}.key.next`, next, pageKey);
    writeDatabaseKey(`${database}.key`, current, pageKey);
    const old = runCli(['audit', 'verify'], t.env);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain('master key');
    rmSync(keyFile);
    await readsEverything({ ...t.env, ...settings }, tenant, recordId);
    expect(JSON.parse(readFileSync(`${database}.key`, 'utf8')).masterKeyId).toBe(next.id);
  });
});

describe('a master key change while confide serve runs on SQLite', () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    if (server) await killHard(server);
  });

  it('is refused with what to do, and changes nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-busy-'));
    const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY_FILE: join(root, 'keys', 'master.key'), CONFIDE_LOG_LEVEL: 'info' };
    try {
      server = await startServerProcess(env, await freePort());
      const result = runCli(['keys', 'rotate-master'], env);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('stop `confide serve`');
      expect(existsSync(join(root, 'keys', 'master-v2.key'))).toBe(true); // made first; a later run uses it
      const health = await httpsJson(server.port, 'POST', '/v1/sessions', { email: 'nobody@example.test', password: 'not-a-password-at-all' });
      expect(health.status).toBe(401);
      await killHard(server);
      server = await startServerProcess(env, await freePort());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

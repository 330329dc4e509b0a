import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { destroyTokenKey, freshKeyLabel, pkcs11Env } from '../harness/pkcs11-fixture.js';

const roots: string[] = [];
const freshRoot = () => {
  const root = mkdtempSync(join(tmpdir(), 'confide-master-'));
  roots.push(root);
  return root;
};

const logLines: string[] = [];
const quiet = () => new Writable({ write: (chunk, _encoding, done) => { logLines.push(String(chunk)); done(); } });

/** A deployment on a key file, with a tenant, a record and the owner's session; closed, ready for the CLI. */
async function fileDeployment(dialect: 'sqlite' | 'postgres') {
  const keys = freshRoot();
  const keyFile = join(keys, 'keys', 'master.key');
  const t = await createTestApp(dialect, { env: { CONFIDE_MASTER_KEY: '', CONFIDE_MASTER_KEY_FILE: keyFile } });
  const tenant = await buildTenant(t);
  const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'survives every master key' });
  await t.app.close();
  return { t, keys, keyFile, tenant, recordId: record.id };
}

/** Starts Confide in-process with `env` and checks that everything written before still reads: the record, the sign-in (blind index), the access log. */
async function expectEverythingReadable(env: Record<string, string>, tenant: TestTenant, recordId: string) {
  const app = await createApp(loadConfig(env, '/'), { startWorkers: false, logDestination: quiet() });
  try {
    const read = await app.publicServer.inject({ method: 'GET', url: `/v1/collections/patients/records/${recordId}`, headers: { authorization: `Bearer ${tenant.token}` } });
    expect(read.statusCode, read.body + logLines.filter((l) => l.includes('"level":50')).join('\n')).toBe(200);
    expect(read.json().data).toEqual({ diagnosis: 'survives every master key' });
    const signIn = await app.publicServer.inject({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: tenant.password } });
    expect(signIn.statusCode, signIn.body).toBe(201);
    const log = await app.publicServer.inject({ method: 'GET', url: '/v1/access-log', headers: { authorization: `Bearer ${tenant.token}` } });
    expect(log.statusCode, log.body).toBe(200);
    // Every key that rests under the master key moved with it: none was left behind, or made anew in its place.
    const { db, masterKey } = app.services;
    const signing = await db.selectFrom('signing_keys').select(['version', 'master_key_id']).execute();
    expect(signing.map((row) => [Number(row.version), row.master_key_id])).toEqual([[1, masterKey.id]]);
    const ring = await db.selectFrom('key_ring').select('master_key_id').where('wrapped_by', '=', 'master').where('state', '<>', 'destroyed').execute();
    expect(new Set(ring.map((row) => row.master_key_id))).toEqual(new Set([masterKey.id]));
  } finally {
    await app.close();
  }
  const verify = runCli(['audit', 'verify'], env);
  expect(verify.status, verify.stderr + verify.stdout).toBe(0);
}

function cli(args: string[], env: Record<string, string>) {
  const result = runCli(args, env);
  expect(result.status, result.stderr + result.stdout).toBe(0);
  return JSON.parse(result.stdout) as { from: { provider: string; id: string }; to: { provider: string; id: string }; keys: number; settings: Record<string, string> };
}

/** The security events of that type, as `confide events tail --json` prints them. */
function eventsOf(env: Record<string, string>, type: string) {
  const tail = runCli(['events', 'tail', '--json', '--limit', '100'], env);
  expect(tail.status, tail.stderr).toBe(0);
  return tail.stdout.trim().split('\n').map((line) => JSON.parse(line)).filter((event) => event.type === type);
}

describe.each(DIALECTS)('master key rotation and migration on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close().catch(() => undefined); // its app was closed before the CLI ran
    t = undefined;
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('migrates from a key file to the token and back; each old key is removed and everything still reads', async () => {
    const deployment = await fileDeployment(dialect);
    t = deployment.t;
    const { keys, keyFile, tenant, recordId } = deployment;
    const keyLabel = freshKeyLabel();
    const onFile = { ...t.env, ...pkcs11Env(keys, keyLabel), CONFIDE_KEY_PROVIDER: 'file' };

    const toToken = cli(['keys', 'migrate-master', '--to', 'pkcs11', '--json'], onFile);
    expect(toToken.from.provider).toBe('file');
    expect(toToken.to.provider).toBe('pkcs11');
    expect(toToken.keys).toBeGreaterThanOrEqual(3);
    expect(toToken.settings).toMatchObject({ CONFIDE_KEY_PROVIDER: 'pkcs11', CONFIDE_PKCS11_KEY_LABEL: keyLabel });
    rmSync(keyFile);
    const onToken = { ...onFile, ...toToken.settings };
    await expectEverythingReadable(onToken, tenant, recordId);
    const [migrated] = eventsOf(onToken, 'keys.master.migrated');
    expect(migrated.actor).toEqual({ type: 'system', id: `host:${userInfo().username}` });
    expect(migrated.details).toMatchObject({ from: { provider: 'file', id: toToken.from.id }, to: { provider: 'pkcs11', id: toToken.to.id }, keys: toToken.keys });

    const newKeyFile = join(keys, 'keys-back', 'master.key');
    const toFile = cli(['keys', 'migrate-master', '--to', 'file', '--json'], { ...onToken, CONFIDE_MASTER_KEY_FILE: newKeyFile });
    expect(toFile.to).toMatchObject({ provider: 'file' });
    expect(toFile.from.id).toBe(toToken.to.id);
    destroyTokenKey(keyLabel);
    expect(toFile.settings).toMatchObject({ CONFIDE_KEY_PROVIDER: 'file', CONFIDE_MASTER_KEY_FILE: newKeyFile });
    await expectEverythingReadable({ ...onToken, ...toFile.settings }, tenant, recordId);
  });

  it('rotates the master key file: a new file beside the old one, which can then be removed', async () => {
    const deployment = await fileDeployment(dialect);
    t = deployment.t;
    const { keyFile, tenant, recordId } = deployment;
    const rotated = cli(['keys', 'rotate-master', '--json'], t.env);
    const newKeyFile = join(keyFile, '..', 'master-v2.key');
    expect(rotated.settings).toMatchObject({ CONFIDE_KEY_PROVIDER: 'file', CONFIDE_MASTER_KEY_FILE: newKeyFile });
    expect(rotated.to.id).not.toBe(rotated.from.id);
    expect(readFileSync(newKeyFile, 'utf8')).not.toBe(readFileSync(keyFile, 'utf8'));
    rmSync(keyFile);
    const rotatedEnv = { ...t.env, ...rotated.settings };
    await expectEverythingReadable(rotatedEnv, tenant, recordId);
    expect(eventsOf(rotatedEnv, 'keys.master.rotated')).toHaveLength(1);
    if (dialect === 'sqlite') {
      // The pages are under a new random page key, wrapped under the new master key.
      const databaseKey = JSON.parse(readFileSync(join(t.dataDir, 'confide.db.key'), 'utf8'));
      expect(databaseKey.masterKeyId).toBe(rotated.to.id);
      expect(existsSync(join(t.dataDir, 'confide.db.key.next'))).toBe(false);
    }
    // The old settings name a key that is gone: refused with one line (exit 78), nothing opened.
    const old = runCli(['audit', 'verify'], t.env);
    expect(old.status).toBe(78);
    expect(old.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('rotates a token key to a new label; the old token key can then be destroyed', async () => {
    const keys = freshRoot();
    const keyLabel = freshKeyLabel();
    t = await createTestApp(dialect, { env: pkcs11Env(keys, keyLabel) });
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'survives every master key' });
    await t.app.close();
    const rotated = cli(['keys', 'rotate-master', '--json'], t.env);
    expect(rotated.settings.CONFIDE_PKCS11_KEY_LABEL).toBe(`${keyLabel}-v2`);
    destroyTokenKey(keyLabel);
    await expectEverythingReadable({ ...t.env, ...rotated.settings }, tenant, record.id);
  });
});

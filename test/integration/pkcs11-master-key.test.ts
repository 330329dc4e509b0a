import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DecryptionError } from '../../src/lib/aes-gcm.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, strongPassword } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { findTokenKeys, freshKeyLabel, onToken, pkcs11Env, softHsmToken } from '../harness/pkcs11-fixture.js';

const PASSWORD = strongPassword();
const roots: string[] = [];
const freshRoot = () => {
  const root = mkdtempSync(join(tmpdir(), 'confide-pkcs11-'));
  roots.push(root);
  return root;
};
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe.each(DIALECTS)('the master key in a PKCS#11 token (SoftHSM2) on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('starts with CONFIDE_KEY_PROVIDER=pkcs11, makes a key that cannot leave the token, and wraps every key with it', async () => {
    const keyLabel = freshKeyLabel();
    t = await createTestApp(dialect, { env: pkcs11Env(freshRoot(), keyLabel) });
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'kept in the token' });
    const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token });
    expect(read.json().data).toEqual({ diagnosis: 'kept in the token' });

    const { masterKey } = t.app.services;
    expect(masterKey.kind).toBe('pkcs11');
    expect(masterKey.legacyBytes()).toBeNull();
    expect(masterKey.id).toMatch(/^[0-9a-f]{16}$/);
    const rows = await t.app.services.db.selectFrom('key_ring').select(['master_key_id', 'wrapped_key']).execute();
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      expect(row.master_key_id).toBe(masterKey.id);
      expect(row.wrapped_key).toMatch(/^w1\.A256GCM\./);
    }
    if (dialect === 'sqlite') expect(existsSync(join(t.dataDir, 'confide.db.key'))).toBe(true);
    // The token binds a wrapped key to its slot (the AAD): moved to another, it does not unwrap, and the session goes on.
    const aad = Buffer.from('confide:key-ring:a:data:1');
    const wrapped = masterKey.wrap(Buffer.alloc(32, 9), aad);
    expect(() => masterKey.unwrap(wrapped, Buffer.from('confide:key-ring:b:data:1'))).toThrow(DecryptionError);
    expect(masterKey.unwrap(wrapped, aad)).toEqual(Buffer.alloc(32, 9));

    onToken((library, session, P) => {
      const [key, ...others] = findTokenKeys(library, session, P, keyLabel);
      expect(others).toEqual([]);
      const attributes = library.C_GetAttributeValue(session, key!, [
        { type: P.CKA_EXTRACTABLE },
        { type: P.CKA_SENSITIVE },
        { type: P.CKA_NEVER_EXTRACTABLE },
        { type: P.CKA_ALWAYS_SENSITIVE },
        { type: P.CKA_TOKEN },
        { type: P.CKA_VALUE_LEN },
      ]);
      const flag = (index: number) => attributes[index]!.value[0];
      expect([flag(0), flag(1), flag(2), flag(3), flag(4)]).toEqual([0, 1, 1, 1, 1]);
      expect(attributes[5]!.value.readBigUInt64LE()).toBe(32n); // CK_ULONG
      expect(() => library.C_GetAttributeValue(session, key!, [{ type: P.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    });
  });
});

describe('confide serve on a PKCS#11 token', () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    if (server) await killHard(server);
    server = undefined;
  });

  it('runs as a real process on the token key, and starts again on it', async () => {
    const root = freshRoot();
    const env = { ...pkcs11Env(root, freshKeyLabel()), CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_LOG_LEVEL: 'info' };
    server = await startServerProcess(env, await freePort());
    const signup = await httpsJson(server.port, 'POST', '/v1/signup', { organization: 'Token Org', email: 'owner@example.test', password: PASSWORD });
    expect(signup.status, JSON.stringify(signup.body)).toBe(201);
    await killHard(server);
    server = await startServerProcess(env, await freePort());
    const session = await httpsJson(server.port, 'POST', '/v1/sessions', { email: 'owner@example.test', password: PASSWORD });
    expect(session.status).toBe(201);
    expect(server.output()).not.toContain(softHsmToken().pin);
  });
});

describe('a PKCS#11 key that cannot be used stops the start with one line naming the variable (exit 78)', () => {
  /** A deployment on the token (its database exists), and the variables it was made with. */
  function deployment() {
    const root = freshRoot();
    const env: Record<string, string> = { ...pkcs11Env(root, freshKeyLabel()), CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_LOG_LEVEL: 'silent' };
    return { root, env };
  }

  function refused(env: Record<string, string>, variable: string, args = ['serve']) {
    const result = runCli(args, env);
    expect(result.status, result.stderr).toBe(78);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(result.stderr).not.toContain(softHsmToken().pin);
    return lines[0]!;
  }

  it('a wrong PIN', () => {
    const { root, env } = deployment();
    const line = refused({ ...env, ...pkcs11Env(root, env.CONFIDE_PKCS11_KEY_LABEL!, 'not-the-pin') }, 'CONFIDE_PKCS11_PIN_FILE');
    expect(line).toContain('CKR_PIN_INCORRECT');
  });

  it('a PIN file that others can read, or that is not there', () => {
    const { env } = deployment();
    chmodSync(env.CONFIDE_PKCS11_PIN_FILE!, 0o644);
    expect(refused(env, 'CONFIDE_PKCS11_PIN_FILE')).toContain('chmod 600');
    expect(refused({ ...env, CONFIDE_PKCS11_PIN_FILE: '/nonexistent/pin' }, 'CONFIDE_PKCS11_PIN_FILE')).toContain('does not exist');
  });

  it('a token that is not there', () => {
    const { env } = deployment();
    expect(refused({ ...env, CONFIDE_PKCS11_TOKEN_LABEL: 'no-such-token' }, 'CONFIDE_PKCS11_TOKEN_LABEL')).toContain(`"${softHsmToken().tokenLabel}"`);
  });

  it('a module that is not there, or is not a PKCS#11 library', () => {
    const { env } = deployment();
    refused({ ...env, CONFIDE_PKCS11_MODULE: '/nonexistent/libpkcs11.so' }, 'CONFIDE_PKCS11_MODULE');
    const notPkcs11 = ['/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libz.so.1'].find((path) => existsSync(path));
    if (notPkcs11) refused({ ...env, CONFIDE_PKCS11_MODULE: notPkcs11 }, 'CONFIDE_PKCS11_MODULE');
  });

  it('a key label the token does not hold, next to an existing database', async () => {
    const { env } = deployment();
    const t = await createTestApp('sqlite', { env });
    await t.app.close();
    rmSync(join(t.dataDir, '..'), { recursive: true, force: true }); // createTestApp's own folder: the data is in env's
    const line = refused({ ...env, CONFIDE_PKCS11_KEY_LABEL: 'no-such-key' }, 'CONFIDE_PKCS11_KEY_LABEL', ['audit', 'verify']);
    expect(line).toContain('"no-such-key"');
  });

  it('settings missing for the pkcs11 provider', () => {
    const result = runCli(['serve'], { CONFIDE_KEY_PROVIDER: 'pkcs11' });
    expect(result.status).toBe(78);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const variable of ['CONFIDE_PKCS11_MODULE', 'CONFIDE_PKCS11_TOKEN_LABEL', 'CONFIDE_PKCS11_PIN_FILE']) expect(lines.some((line) => line.includes(variable))).toBe(true);
  });
});

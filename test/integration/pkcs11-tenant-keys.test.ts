import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { Deployment, expectShreddedInRestoredCopy, trackedDeployments } from '../harness/deployment-backup.js';
import type { TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, signIn, strongPassword, type TestTenant } from '../harness/builders.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { runCli } from '../harness/run-cli.js';
import { findTokenKeys, freshKeyLabel, onToken, pkcs11Env } from '../harness/pkcs11-fixture.js';

const { deployments, apps, started, stop } = trackedDeployments();

/** Master key on the token; tenant keys on the token too (`pkcs11`), or in a directory (`file`). */
async function onTokenDeployment(dialect: (typeof DIALECTS)[number], store: 'pkcs11' | 'file'): Promise<Deployment> {
  const deployment = await Deployment.create(dialect, ({ root, keyDir }) => ({
    ...pkcs11Env(root, freshKeyLabel()),
    CONFIDE_TENANT_KEY_STORE: store,
    ...(store === 'file' ? { CONFIDE_TENANT_KEY_DIR: join(keyDir, 'tenants') } : {}),
  }));
  deployments.push(deployment);
  return deployment;
}

const readRecord = (t: TestApp, tenant: TestTenant, id: string) => t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: tenant.token });

/** The token's objects for a tenant: its TKEKs, and its tombstone's `deletedAt` (null: none). */
function tokenObjectsOf(tenantId: string): { keys: number; deletedAt: string | null } {
  return onToken((library, session, P) => {
    const keys = findTokenKeys(library, session, P, `confide-tkek-${tenantId}`).length;
    library.C_FindObjectsInit(session, [
      { type: P.CKA_CLASS, value: P.CKO_DATA },
      { type: P.CKA_LABEL, value: `confide-tkek-deleted-${tenantId}` },
    ]);
    let found: Buffer[];
    try {
      found = library.C_FindObjects(session, 2);
    } finally {
      library.C_FindObjectsFinal(session);
    }
    if (found.length === 0) return { keys, deletedAt: null };
    const [value] = library.C_GetAttributeValue(session, found[0]!, [{ type: P.CKA_VALUE }]);
    return { keys, deletedAt: (JSON.parse(value!.value.toString()) as { deletedAt: string }).deletedAt };
  });
}

function migrate(deployment: Deployment, to: string, extra: Record<string, string> = {}) {
  const result = runCli(['keys', 'migrate-tenant-keys', '--to', to, '--json'], { ...deployment.env, ...extra });
  expect(result.status, result.stderr + result.stdout).toBe(0);
  return JSON.parse(result.stdout) as { from: string; to: string; tenants: number; keys: number; tombstones: number; settings: Record<string, string> };
}

describe.each(DIALECTS)('tenant key-encryption keys in the HSM (CONFIDE_TENANT_KEY_STORE=pkcs11) on %s', (dialect) => {
  it('wraps each tenant’s keys under its own token object; deleting the tenant destroys it and leaves a tombstone; a restored copy stays unreadable', { timeout: 120_000 }, async () => {
    const deployment = await onTokenDeployment(dialect, 'pkcs11');
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    let t = await started(deployment);
    expect(t.app.services.tenantKeys?.kind).toBe('pkcs11');
    const gone = await buildTenant(t);
    const goneRecord = await buildRecord(t, gone, 'patients', { note: canary });
    const kept = await buildTenant(t);
    const keptRecord = await buildRecord(t, kept, 'patients', { note: 'bravo' });
    expect((await readRecord(t, gone, goneRecord.id)).json().data).toEqual({ note: canary });
    const wrappedBy = await t.app.services.db.selectFrom('key_ring').select(['owner', 'wrapped_by']).where('owner', 'in', [gone.tenantId, kept.tenantId]).execute();
    expect(new Set(wrappedBy.map((row) => row.owner)).size).toBe(2);
    expect(new Set(wrappedBy.map((row) => row.wrapped_by))).toEqual(new Set(['tenant']));
    expect(tokenObjectsOf(gone.tenantId)).toEqual({ keys: 1, deletedAt: null });
    // Nothing of the tenant keys on disk: no directory was configured, and none is made.
    expect(existsSync(join(deployment.keyDir, 'tenants'))).toBe(false);
    await stop(t);
    deployment.backUp();

    t = await started(deployment);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: (await signIn(t, gone.email, gone.password)).token, payload: { confirm: gone.tenantId } });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(deleted.headers['confide-shredded']).toBe('true');
    expect(tokenObjectsOf(gone.tenantId)).toEqual({ keys: 0, deletedAt: expect.any(String) });
    expect(tokenObjectsOf(kept.tenantId)).toEqual({ keys: 1, deletedAt: null });
    await stop(t);

    await deployment.restore();
    t = await started(deployment);
    await expectShreddedInRestoredCopy(t, { gone, goneRecordId: goneRecord.id, kept, keptRecordId: keptRecord.id, keptData: { note: 'bravo' }, canary });
    await stop(t);
    expect(deployment.plaintextHolding(canary)).toEqual([]);
  });

  it('migrates file → pkcs11 → file: data reads after each, the old keys are gone, a deleted tenant stays deleted', { timeout: 180_000 }, async () => {
    const deployment = await onTokenDeployment(dialect, 'file');
    const fileDir = join(deployment.keyDir, 'tenants');
    let t = await started(deployment);
    const tenants = [await buildTenant(t), await buildTenant(t)];
    const records = [await buildRecord(t, tenants[0]!, 'patients', { n: 0 }), await buildRecord(t, tenants[1]!, 'patients', { n: 1 })];
    const gone = await buildTenant(t);
    await buildRecord(t, gone);
    const rotated = await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: tenants[0]!.token }); // two versions to carry
    expect([200, 201, 202], rotated.body).toContain(rotated.statusCode);
    expect((await t.request({ method: 'DELETE', url: '/v1/tenant', token: gone.token, payload: { confirm: gone.tenantId } })).statusCode).toBe(204);
    await stop(t);
    expect(readdirSync(fileDir).sort()).toEqual([`${gone.tenantId}.deleted`, ...tenants.map((tenant) => `${tenant.tenantId}.kek`)].sort());

    const toToken = migrate(deployment, 'pkcs11');
    expect(toToken).toMatchObject({ from: 'file', to: 'pkcs11', tenants: 2, tombstones: 1, settings: { CONFIDE_TENANT_KEY_STORE: 'pkcs11' } });
    expect(toToken.keys).toBeGreaterThanOrEqual(3);
    expect(readdirSync(fileDir)).toEqual([`${gone.tenantId}.deleted`]);
    for (const tenant of tenants) expect(tokenObjectsOf(tenant.tenantId)).toEqual({ keys: 1, deletedAt: null });
    expect(tokenObjectsOf(gone.tenantId)).toMatchObject({ keys: 0, deletedAt: expect.any(String) });
    // The old setting no longer starts (nor runs the move again): it would give new tenants keys in the emptied store.
    const stale = runCli(['keys', 'migrate-tenant-keys', '--to', 'pkcs11'], deployment.env);
    expect(stale.status).toBe(78);
    expect(stale.stderr.trim().split('\n')).toEqual([expect.stringContaining("the tenants' keys of this database are in the pkcs11 store, not the file one")]);

    const onHsm = deployment.withEnv({ CONFIDE_TENANT_KEY_STORE: 'pkcs11' });
    t = await onHsm.start();
    apps.push(t);
    await expectReadable(t, tenants, records);
    await expect(t.app.services.keyRing.cipherFor(gone.tenantId)).rejects.toMatchObject({ code: 'TENANT_DELETED' });
    const events = await t.app.services.db.selectFrom('security_events').select(['actor_id']).where('type', '=', 'keys.tenantKeys.migrated').execute();
    expect(events.map((event) => event.actor_id)).toEqual([expect.stringMatching(/^host:/)]);
    await stop(t);

    const backDir = join(deployment.root, 'tenant-keys-again');
    const toFiles = migrate(onHsm, 'file', { CONFIDE_TENANT_KEY_DIR: backDir });
    expect(toFiles).toMatchObject({ from: 'pkcs11', to: 'file', tenants: 2, settings: { CONFIDE_TENANT_KEY_STORE: 'file', CONFIDE_TENANT_KEY_DIR: backDir } });
    expect(toFiles.tombstones).toBeGreaterThanOrEqual(1); // the token's tombstones: this deployment's, and other tests' on the shared token
    for (const tenant of tenants) expect(tokenObjectsOf(tenant.tenantId).keys).toBe(0);
    expect(readdirSync(backDir)).toEqual(expect.arrayContaining([`${gone.tenantId}.deleted`, ...tenants.map((tenant) => `${tenant.tenantId}.kek`)]));

    t = await deployment.withEnv({ CONFIDE_TENANT_KEY_STORE: 'file', CONFIDE_TENANT_KEY_DIR: backDir }).start();
    apps.push(t);
    await expectReadable(t, tenants, records);
    await expect(t.app.services.keyRing.cipherFor(gone.tenantId)).rejects.toMatchObject({ code: 'TENANT_DELETED' });
  });

  it('refuses to move the keys to the token without an HSM master key, and a pkcs11 store without one stops the start: one line, exit 78', async () => {
    const deployment = await Deployment.create(dialect, ({ keyDir }) => ({ CONFIDE_MASTER_KEY: '', CONFIDE_MASTER_KEY_FILE: join(keyDir, 'master.key') }));
    deployments.push(deployment);
    const t = await started(deployment);
    await stop(t);
    const start = runCli(['keys', 'status'], { ...deployment.env, CONFIDE_TENANT_KEY_STORE: 'pkcs11' });
    expect(start.status).toBe(78);
    expect(start.stderr).toBe('confide: CONFIDE_TENANT_KEY_STORE=pkcs11 requires CONFIDE_KEY_PROVIDER=pkcs11: tenant keys live on the master key’s HSM token\n');
    const move = runCli(['keys', 'migrate-tenant-keys', '--to', 'pkcs11'], deployment.env);
    expect(move.status).toBe(78);
    expect(move.stderr.trim().split('\n')).toEqual([expect.stringContaining('--to pkcs11 needs CONFIDE_KEY_PROVIDER=pkcs11')]);
  });

  it('refuses to move the master key off the token while the tenant keys are on it', async () => {
    const deployment = await onTokenDeployment(dialect, 'pkcs11');
    await stop(await started(deployment));
    const move = runCli(['keys', 'migrate-master', '--to', 'file'], { ...deployment.env, CONFIDE_MASTER_KEY_FILE: join(deployment.keyDir, 'next.key') });
    expect(move.status).toBe(78);
    expect(move.stderr.trim().split('\n')).toEqual([expect.stringContaining('move them first, with confide keys migrate-tenant-keys --to file')]);
    expect(existsSync(join(deployment.keyDir, 'next.key'))).toBe(false);
  });
});

describe('confide keys migrate-tenant-keys beside a running server (SQLite)', () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    if (server) await killHard(server);
    server = undefined;
  });

  it('refuses while `confide serve` has the database open, and moves nothing', { timeout: 120_000 }, async () => {
    const deployment = await onTokenDeployment('sqlite', 'file');
    server = await startServerProcess(deployment.env, await freePort());
    const signUp = await httpsJson(server.port, 'POST', '/v1/signup', { organization: 'Running', email: 'owner@example.test', password: strongPassword() });
    expect(signUp.status, JSON.stringify(signUp.body)).toBe(201);
    const refused = runCli(['keys', 'migrate-tenant-keys', '--to', 'pkcs11'], deployment.env);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringContaining('is open in another process: stop `confide serve`')]);
    const tenantId = signUp.body.tenant.id as string;
    expect(readdirSync(join(deployment.keyDir, 'tenants'))).toEqual([`${tenantId}.kek`]);
    expect(tokenObjectsOf(tenantId).keys).toBe(0);
  });
});

async function expectReadable(t: TestApp, tenants: TestTenant[], records: Array<{ id: string }>): Promise<void> {
  for (const [index, tenant] of tenants.entries()) {
    const token = (await signIn(t, tenant.email, tenant.password)).token;
    const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${records[index]!.id}`, token });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ n: index });
  }
}

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { Deployment, expectShreddedInRestoredCopy, trackedDeployments } from '../harness/deployment-backup.js';
import type { TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, signIn, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';

const { deployments, apps, started, stop } = trackedDeployments();

const readRecord = (t: TestApp, tenant: TestTenant, id: string) => t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: tenant.token });

describe.each(DIALECTS)('crypto-shredding on %s', (dialect) => {
  /** The default: a master key file, and tenants' keys in the `tenants` folder beside it. */
  const withKeyFile = async () => {
    const deployment = await Deployment.create(dialect, ({ keyDir }) => ({ CONFIDE_MASTER_KEY: '', CONFIDE_MASTER_KEY_FILE: join(keyDir, 'master.key') }));
    deployments.push(deployment);
    return deployment;
  };

  it('copy the database, delete the tenant, restore the copy, start: its values do not decrypt, the canary is nowhere in plaintext, other tenants are intact', { timeout: 120_000 }, async () => {
    const deployment = await withKeyFile();
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    let t = await started(deployment);
    const gone = await buildTenant(t);
    const goneRecord = await buildRecord(t, gone, 'patients', { note: canary });
    const kept = await buildTenant(t);
    const keptRecord = await buildRecord(t, kept, 'patients', { note: 'bravo' });
    expect((await readRecord(t, gone, goneRecord.id)).json().data).toEqual({ note: canary }); // it is there to be found
    expect(existsSync(join(deployment.keyDir, 'tenants', `${gone.tenantId}.kek`))).toBe(true);
    await stop(t);
    deployment.backUp();

    t = await started(deployment);
    const fresh = await signIn(t, gone.email, gone.password);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: fresh.token, payload: { confirm: gone.tenantId } });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(deleted.headers['confide-shredded']).toBe('true');
    await stop(t);

    await deployment.restore();
    t = await started(deployment);
    await expectShreddedInRestoredCopy(t, { gone, goneRecordId: goneRecord.id, kept, keptRecordId: keptRecord.id, keptData: { note: 'bravo' }, canary });
    await stop(t);
    expect(deployment.plaintextHolding(canary)).toEqual([]);
  });

  it('without a tenant key store, a restored copy plus the master key still reads a deleted tenant: why the answer says shredded: false', { timeout: 120_000 }, async () => {
    const deployment = await Deployment.create(dialect, () => ({ CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') }));
    deployments.push(deployment);
    let t = await started(deployment);
    const gone = await buildTenant(t);
    const record = await buildRecord(t, gone, 'patients', { note: 'not shredded' });
    await stop(t);
    deployment.backUp();
    t = await started(deployment);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: (await signIn(t, gone.email, gone.password)).token, payload: { confirm: gone.tenantId } });
    expect(deleted.headers['confide-shredded']).toBe('false');
    await stop(t);
    await deployment.restore();
    t = await started(deployment);
    const read = await readRecord(t, gone, record.id);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ note: 'not shredded' });
  });

  it('moves tenants made before the store existed under a key of their own at start, and can then shred them', { timeout: 120_000 }, async () => {
    const masterKey = randomBytes(32).toString('base64');
    const plain = await Deployment.create(dialect, () => ({ CONFIDE_MASTER_KEY: masterKey }));
    deployments.push(plain);
    let t = await started(plain);
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { note: 'older than the store' });
    const wrappedBy = async () => (await t.app.services.db.selectFrom('key_ring').select(['owner', 'wrapped_by']).orderBy('owner').execute()).map((row) => `${row.owner === tenant.tenantId ? 'tenant' : row.owner}:${row.wrapped_by}`).sort();
    // The system's data key (v1, and v2 made ahead) and index key; the tenant's v1 and v2.
    expect(await wrappedBy()).toEqual(['system:master', 'system:master', 'system:master', 'tenant:master', 'tenant:master']);
    await stop(t);

    const tenantKeyDir = join(plain.root, 'tenant-keys');
    t = await plain.withEnv({ CONFIDE_TENANT_KEY_DIR: tenantKeyDir }).start();
    apps.push(t);
    expect(existsSync(join(tenantKeyDir, `${tenant.tenantId}.kek`))).toBe(true);
    expect(await wrappedBy()).toEqual(['system:master', 'system:master', 'system:master', 'tenant:tenant', 'tenant:tenant']);
    expect((await readRecord(t, tenant, record.id)).json().data).toEqual({ note: 'older than the store' });
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: (await signIn(t, tenant.email, tenant.password)).token, payload: { confirm: tenant.tenantId } });
    expect(deleted.headers['confide-shredded']).toBe('true');
    expect(existsSync(join(tenantKeyDir, `${tenant.tenantId}.kek`))).toBe(false);
  });

  it('confide tenants delete: refuses without confirmation, then shreds with --yes and prints the final checkpoint', { timeout: 120_000 }, async () => {
    const deployment = await withKeyFile();
    let t = await started(deployment);
    const tenant = await buildTenant(t);
    await buildRecord(t, tenant);
    await stop(t);
    const kek = join(deployment.keyDir, 'tenants', `${tenant.tenantId}.kek`);

    const unconfirmed = runCli(['tenants', 'delete', '--tenant', tenant.tenantId], deployment.env);
    expect(unconfirmed.status).toBe(1);
    expect(unconfirmed.stderr).toContain('pass --yes');
    expect(existsSync(kek)).toBe(true);
    const unknown = runCli(['tenants', 'delete', '--tenant', 'no-such-tenant', '--yes'], deployment.env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no tenant no-such-tenant');

    const done = runCli(['tenants', 'delete', '--tenant', tenant.tenantId, '--yes', '--json'], deployment.env);
    expect(done.status, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout);
    expect(result).toMatchObject({ tenantId: tenant.tenantId, shredded: true, usersRemoved: 1 });
    expect(result.finalCheckpoint.signature).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(existsSync(kek)).toBe(false);

    t = await started(deployment);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: tenant.password } })).statusCode).toBe(401);
    const event = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('tenant_id', '=', tenant.tenantId).execute();
    expect(event).toEqual([{ type: 'tenant.deleted', actor_type: 'operator', actor_id: expect.stringMatching(/^host:/) }]);
  });
});

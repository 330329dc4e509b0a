import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildRecord, buildTenant, errorCode, inviteToken, type TestTenant } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { insertGrantFixture } from '../harness/grant-fixture.js';
import { countOwned, expectAllUnder, insertFullAccessRequest, insertRecords } from '../harness/key-fixture.js';
import { columnsOwnedBy } from '../../src/key-rotation/column-walk.js';
import { DESTROY_GRACE_MS, ReencryptionWorker } from '../../src/key-rotation/reencryption-worker.js';
import { readOutboxFile, sealOutboxFile } from '../../src/mail/outbox-file.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { onTestFinished } from 'vitest';
import { KeyRing } from '../../src/keys/key-ring.js';
import { algorithmForConfig } from '../../src/keys/algorithms.js';
import { rotateKey } from '../../src/key-rotation/rotate-key.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BULK_RECORDS = 10_000;
const WRITER_TARGETS = 10;

describe.each(DIALECTS)('data key rotation on %s', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  const keysOf = async (tenant: TestTenant) => (await t.request({ method: 'GET', url: '/v1/tenant/keys', token: tenant.token })).json();
  const rotate = (tenant: TestTenant) => t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: tenant.token });

  /** Values in every tenant-owned field of the registry: through the API where it is the way, in bulk for records. */
  async function fillTenant(owner: TestTenant): Promise<Array<{ id: string }>> {
    const { db, keyRing } = t.app.services;
    await buildMember(t, owner, 'admin');
    await inviteToken(t, owner, 'pending@example.test'); // a pending invitation
    for (const name of ['ci', 'export', 'backup']) {
      const created = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name, scope: 'read' } });
      expect(created.statusCode, created.body).toBe(201);
    }
    const staff = await buildStaff(t);
    await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, status: 'pending' });
    await insertFullAccessRequest(db, keyRing, owner.tenantId, staff.id, t.clock.now().toISOString());
    const targets = [];
    for (let i = 0; i < WRITER_TARGETS; i += 1) targets.push(await buildRecord(t, owner, 'patients', { name: `target-${i}`, round: -1 }));
    for (let i = 0; i < 40; i += 1) await buildRecord(t, owner, 'visits'); // and their access-log entries
    const file = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${targets[0]!.id}/files/scan.pdf`, token: owner.token, payload: 'a file', headers: { 'content-type': 'application/pdf' } });
    expect(file.statusCode, file.body).toBe(201); // its key, sealed in record_files.key_enc
    const listed = await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: owner.token }); // an entry with details
    expect(listed.statusCode).toBe(200);
    await insertRecords(db, keyRing, owner.tenantId, 'visits', BULK_RECORDS, t.clock.now().toISOString());
    return targets;
  }

  it('re-encrypts ≥ 10,000 values of a tenant under the new version while a writer updates records, then destroys the old version', { timeout: 300_000 }, async () => {
    const { db, keyRing, securityEvents } = t.app.services;
    const owner = await buildTenant(t);
    const other = await buildTenant(t);
    const othersRecord = await buildRecord(t, other);
    const targets = await fillTenant(owner);
    const total = await countOwned(db, owner.tenantId);
    expect(total).toBeGreaterThanOrEqual(10_000);
    const before = await expectAllUnder(db, keyRing, owner.tenantId, 1);
    // Every tenant-owned field of the registry holds values, so the walk is proven on each of them.
    expect(Object.keys(before).sort()).toEqual(columnsOwnedBy(owner.tenantId).map((f) => f.name).sort());

    const rotated = await rotate(owner);
    expect(rotated.statusCode, rotated.body).toBe(202);
    expect(rotated.json().rotation).toMatchObject({ toVersion: 2, state: 'running', done: 0, total, percent: 0 });

    // A writer updates records through the API while the job runs; its last acknowledged values must survive.
    const last = new Map<string, number>();
    let walking = true;
    const writer = (async () => {
      for (let round = 0; walking || round < 3; round += 1) {
        for (const target of targets) {
          const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${target.id}`, token: owner.token, payload: { name: 'written', round } });
          expect(put.statusCode, put.body).toBe(200);
          last.set(target.id, round);
        }
      }
    })();
    const midway: number[] = [];
    const job = (async () => {
      const outcomes = await t.app.keyRotation.runOnce();
      walking = false;
      return outcomes;
    })();
    while (walking) {
      midway.push((await keysOf(owner)).rotation.percent);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The walk is over; old versions wait out the grace every node needs to learn of the rotation
    // (the test clock follows real time, so on a slow run the grace may be over already).
    const outcome = await job;
    await writer;
    expect(midway.some((percent) => percent > 0 && percent < 100), `progress seen: ${midway.join(',')}`).toBe(true);

    if (outcome[0] === 'waiting') {
      expect((await keysOf(owner)).keys.map((v: { state: string }) => v.state)).toEqual(['retired', 'active', 'next']);
      t.clock.advance(DESTROY_GRACE_MS / 1000 + 1);
      expect(await t.app.keyRotation.runOnce()).toEqual(['done']);
    } else {
      expect(outcome).toEqual(['done']);
    }

    const status = await keysOf(owner);
    expect(status.keys).toMatchObject([
      { version: 1, state: 'destroyed', destroyedAt: expect.any(String) },
      { version: 2, state: 'active', activatedAt: expect.any(String) },
      { version: 3, state: 'next', activatedAt: null },
    ]);
    expect(status.rotation).toMatchObject({ toVersion: 2, state: 'complete', total, percent: 100, finishedAt: expect.any(String) });
    expect(status.rotation.done).toBeGreaterThanOrEqual(total);
    expect(status.keys[1]).not.toHaveProperty('destroyedAt'); // only a destroyed version has one (API.md)
    const destroyed = await db.selectFrom('key_ring').select('wrapped_key').where('owner', '=', owner.tenantId).where('version', '=', 1).executeTakeFirstOrThrow();
    expect(destroyed.wrapped_key).toBe('');

    // Every value opens and is under version 2 (with version 1's key gone, an old one could not open).
    await keyRing.forget(owner.tenantId);
    const after = await expectAllUnder(db, keyRing, owner.tenantId, 2);
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(total);
    for (const target of targets) {
      const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${target.id}`, token: owner.token });
      expect(read.json().data).toEqual({ name: 'written', round: last.get(target.id) });
    }
    const verify = await t.request({ method: 'GET', url: '/v1/access-log/verify', token: owner.token });
    expect(verify.json()).toMatchObject({ ok: true, problems: [] });

    // Another tenant's key is not touched.
    expect((await keysOf(other)).keys.map((v: { state: string }) => v.state)).toEqual(['active', 'next']);
    expect((await t.request({ method: 'GET', url: `/v1/collections/patients/records/${othersRecord.id}`, token: other.token })).statusCode).toBe(200);

    await securityEvents.flush();
    const events = await db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('tenant_id', '=', owner.tenantId).where('type', 'like', 'keys.%').orderBy('at').execute();
    expect(events).toMatchObject([
      { type: 'keys.rotated', actor_type: 'member', actor_id: owner.userId },
      { type: 'keys.version.destroyed', actor_type: 'system' },
    ]);
  });

  it('re-encrypts the system-owned values (users’ e-mail addresses, sessions, mail) when the system key rotates', { timeout: 120_000 }, async () => {
    const { db, keyRing } = t.app.services;
    const owner = await buildTenant(t);
    await buildRecord(t, owner);
    await expectAllUnder(db, keyRing, 'system', 1);
    await rotateKey(t.app.services, 'system', { actor: { type: 'system', id: 'host:test' }, requestedBy: 'host:test' });
    // A new user after the rotation is sealed with the new version at once.
    const later = await buildTenant(t);
    expect(await t.app.keyRotation.runOnce()).toEqual(['waiting']); // walked; the grace has not passed
    t.clock.advance(DESTROY_GRACE_MS / 1000 + 1);
    expect(await t.app.keyRotation.runOnce()).toEqual(['done']);
    const byField = await expectAllUnder(db, keyRing, 'system', 2);
    expect(byField.usersEmail).toBeGreaterThanOrEqual(2);
    expect(byField.sessionsIp).toBeGreaterThanOrEqual(2);
    const versions = await keyRing.versionsOf('system');
    expect(versions.map((v) => v.state)).toEqual(['destroyed', 'active', 'next']);
    // Sign-in (which reads the e-mail addresses) and the mail outbox still work for both users.
    for (const tenant of [owner, later]) {
      const session = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: tenant.password } });
      expect(session.statusCode, session.body).toBe(201);
      expect((await t.mailTo(tenant.email)).length).toBeGreaterThan(0);
    }
  });

  it('another node re-seals its own mail outbox when it learns of a system rotation, before the old version is destroyed', { timeout: 60_000 }, async () => {
    const { keyRing } = t.app.services;
    // Node B: the same database, a data directory (and so an outbox) of its own, and not the lease holder.
    const { db, masterKey, clock, config, tenantKeys } = t.app.services;
    const keyRingB = new KeyRing(db, masterKey, clock, algorithmForConfig(config.dataCipher), tenantKeys);
    await keyRingB.open();
    const dataDirB = mkdtempSync(join(tmpdir(), 'confide-node-b-'));
    onTestFinished(() => rmSync(dataDirB, { recursive: true, force: true }));
    const nodeB = { ...t.app.services, keyRing: keyRingB, config: { ...config, dataDir: dataDirB } };
    mkdirSync(join(nodeB.config.dataDir, 'outbox'), { mode: 0o700 });
    const file = join(nodeB.config.dataDir, 'outbox', 'mail-b.eml.enc');
    writeFileSync(file, sealOutboxFile('mail-b', 'deployment', 'Subject: kept\r\n\r\nbody', keyRingB.systemCipher()), { mode: 0o600 });
    const workerB = new ReencryptionWorker(nodeB, { holder: 'node-b', onError: (error) => { throw error; } });
    const versionOf = () => Number(readFileSync(file, 'utf8').trimEnd().split('\n').pop()!.split('.')[2]);
    expect(versionOf()).toBe(1);

    await rotateKey(t.app.services, 'system', { actor: { type: 'system', id: 'host:test' }, requestedBy: 'host:test' });
    expect(await t.app.keyRotation.runOnce()).toEqual(['waiting']); // node A holds the lease and walks its own outbox
    expect(await workerB.runOnce()).toEqual([]); // node B runs no job, but learns of the rotation
    expect(versionOf()).toBe(2);
    expect(await t.app.keyRotation.runOnce()).toEqual(['waiting']);
    t.clock.advance(DESTROY_GRACE_MS / 1000 + 1);
    expect(await t.app.keyRotation.runOnce()).toEqual(['done']);
    await keyRing.forget('system');
    await keyRingB.forget('system');
    expect(readOutboxFile(readFileSync(file, 'utf8'), keyRingB.systemCipher()).eml).toBe('Subject: kept\r\n\r\nbody');
    expect(readOutboxFile(readFileSync(file, 'utf8'), keyRing.systemCipher()).eml).toBe('Subject: kept\r\n\r\nbody');
    await workerB.stop();
  });

  it('refuses a rotation to an admin, an API key and an owner whose session has not proved itself for 5 minutes', async () => {
    const owner = await buildTenant(t);
    const admin = await buildMember(t, owner, 'admin');
    expect(errorCode(await rotate(admin))).toBe('FORBIDDEN');
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'k', scope: 'read-write' } });
    expect(errorCode(await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: key.json().key }))).toBe('FORBIDDEN');
    t.clock.advance(6 * 60);
    const stale = await rotate(owner);
    expect(stale.statusCode).toBe(403);
    expect(errorCode(stale)).toBe('REAUTHENTICATION_REQUIRED');
    const rotateWith = (proof: Record<string, string>) => t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: owner.token, payload: proof });
    const wrong = await rotateWith({ password: `${owner.password}x` });
    expect(wrong.statusCode).toBe(401);
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(errorCode(await rotateWith({ password: owner.password, other: 'x' }))).toBe('VALIDATION_FAILED');
    // The admin may see the key's state; nothing was rotated.
    const status = await keysOf(admin);
    expect(status).toMatchObject({ keys: [{ version: 1, state: 'active' }, { version: 2, state: 'next', activatedAt: null }], rotation: null });
    // API.md: `{"password"}` (or `{"code"}`) re-authenticates in the request itself.
    const proved = await rotateWith({ password: owner.password });
    expect(proved.statusCode, proved.body).toBe(202);
    expect(proved.json().rotation).toMatchObject({ toVersion: 2, state: 'running', done: 0 });
  });
});

import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { columnsOwnedBy, countOutsideVersion } from '../../src/key-rotation/column-walk.js';
import { ReencryptionJob } from '../../src/key-rotation/reencryption-job.js';
import { runningJobs } from '../../src/key-rotation/rotation-jobs.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, signIn, type TestTenant } from '../harness/builders.js';
import { countOwned, insertRecords } from '../harness/key-fixture.js';

const DAY = 86_400;

interface VersionView {
  version: number;
  state: string;
  algorithm: string;
  values: number;
  valuesByAlgorithm: Record<string, number>;
  destroyedAt: string | null;
}
interface KeysView {
  keys: VersionView[];
  ageDays: number | null;
  due: boolean;
  dueReasons: string[];
  rotation: { state: string } | null;
}

/** The tenant's values under any version other than `version`, by the walk's own LIKE count (an oracle independent of the grouped scan). */
async function valuesOutside(t: TestApp, tenantId: string, version: number): Promise<number> {
  let total = 0;
  for (const field of columnsOwnedBy(tenantId)) total += await countOutsideVersion(t.app.services.db, field, tenantId, version);
  return total;
}

describe.each(DIALECTS)('the crypto inventory of a tenant, GET /v1/tenant/keys (%s)', (dialect) => {
  let t: TestApp | undefined;
  let restarted: App | undefined;
  afterEach(async () => {
    await restarted?.close();
    restarted = undefined;
    await t?.close();
    t = undefined;
  });

  const keysOf = async (app: App, tenant: TestTenant): Promise<KeysView> => {
    const response = await app.publicServer.inject({ method: 'GET', url: '/v1/tenant/keys', headers: { authorization: `Bearer ${tenant.token}` } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<KeysView>();
  };
  const version = (view: KeysView, n: number) => view.keys.find((v) => v.version === n)!;

  /** A job of the tenant's rotation, run here: `batches` batches of 40 values, or to the end (no grace: the test says when). */
  const runJob = async (app: App, owner: string, batches = Infinity) => {
    let left = batches;
    const job = new ReencryptionJob(app.services, { batch: 40, pauseMs: 0, graceMs: 0, keepGoing: async () => left-- > 0 });
    const running = (await runningJobs(app.services.db)).find((row) => row.owner === owner)!;
    return job.run(running);
  };

  it('counts the values under each version before, while and after a rotation; a destroyed version shows 0', { timeout: 120_000 }, async () => {
    t = await createTestApp(dialect);
    const { db, keyRing } = t.app.services;
    const tenant = await buildTenant(t);
    const other = await buildTenant(t);
    await buildRecord(t, tenant, 'visits');
    await buildRecord(t, other, 'visits');
    await insertRecords(db, keyRing, tenant.tenantId, 'visits', 300, t.clock.now().toISOString());
    await insertRecords(db, keyRing, other.tenantId, 'visits', 77, t.clock.now().toISOString()); // counted for the other tenant only
    const total = await countOwned(db, tenant.tenantId);

    const before = await keysOf(t.app, tenant);
    expect(version(before, 1)).toMatchObject({ state: 'active', values: total, valuesByAlgorithm: { A256GCM: total } });
    expect(before).toMatchObject({ ageDays: 0, due: false, dueReasons: [] });

    const rotated = await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: tenant.token });
    expect(rotated.statusCode, rotated.body).toBe(202);
    expect(await runJob(t.app, tenant.tenantId, 3)).toBe('stopped');
    const midway = await keysOf(t.app, tenant);
    const left = await valuesOutside(t, tenant.tenantId, 2);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(total);
    expect(version(midway, 1)).toMatchObject({ state: 'retired', values: left, valuesByAlgorithm: { A256GCM: left } });
    expect(version(midway, 2)).toMatchObject({ state: 'active', values: (await countOwned(db, tenant.tenantId)) - left });
    // A retired version still protects values, but a re-encryption is moving them: not due.
    expect(midway).toMatchObject({ due: false, rotation: { state: 'running' } });

    expect(await runJob(t.app, tenant.tenantId)).toBe('done');
    const after = await keysOf(t.app, tenant);
    expect(version(after, 1)).toMatchObject({ state: 'destroyed', values: 0, valuesByAlgorithm: {}, destroyedAt: expect.any(String) });
    expect(version(after, 2)).toMatchObject({ state: 'active', values: await countOwned(db, tenant.tenantId) });
    expect(after.due).toBe(false);
    // The other tenant's own view: its values only, all still under its version 1.
    expect(version(await keysOf(t.app, other), 1).values).toBe(await countOwned(db, other.tenantId));
  });

  it('is due once the active version is older than CONFIDE_KEY_MAX_AGE_DAYS (the test clock moved on)', async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_KEY_MAX_AGE_DAYS: '30' } });
    const tenant = await buildTenant(t);
    // Sessions end long before a key grows old: sign in again after each move of the clock.
    const signedIn = async () => ({ ...tenant, token: (await signIn(t!, tenant.email, tenant.password)).token });
    t.clock.advance(30 * DAY);
    expect(await keysOf(t.app, await signedIn())).toMatchObject({ ageDays: 30, due: false, dueReasons: [] });
    t.clock.advance(DAY);
    const old = await keysOf(t.app, await signedIn());
    expect(old).toMatchObject({ ageDays: 31, due: true });
    expect(old.dueReasons).toEqual(['the active version 1 is 31 days old, more than the maximum of 30 days (CONFIDE_KEY_MAX_AGE_DAYS)']);
  });

  it('shows a tenant its own keys only: no master key, TLS or other tenant', async () => {
    t = await createTestApp(dialect);
    const tenant = await buildTenant(t);
    const other = await buildTenant(t);
    const response = await t.request({ method: 'GET', url: '/v1/tenant/keys', token: tenant.token });
    expect(Object.keys(response.json()).sort()).toEqual(['ageDays', 'due', 'dueReasons', 'keys', 'rotation']);
    for (const hidden of [t.app.services.masterKey.id, other.tenantId, 'masterKey', 'fingerprint', 'tls', 'signing', 'certificate']) {
      expect(response.body).not.toContain(hidden);
    }
  });

  it('counts values per algorithm after a CONFIDE_DATA_CIPHER switch; the key is due until a rotation re-seals them', { timeout: 120_000 }, async () => {
    t = await createTestApp(dialect);
    const tenant = await buildTenant(t);
    for (let i = 0; i < 3; i += 1) await buildRecord(t, tenant, 'patients', { i });
    const aesValues = version(await keysOf(t.app, tenant), 1).values;
    await t.app.close();
    restarted = await createApp(loadConfig({ ...t.env, CONFIDE_LOG_LEVEL: 'silent', CONFIDE_DATA_CIPHER: 'chacha20-poly1305' }, dirname(t.dataDir)), { clock: t.clock, startWorkers: false });
    for (let i = 0; i < 2; i += 1) {
      const created = await restarted.publicServer.inject({ method: 'POST', url: '/v1/collections/patients/records', headers: { authorization: `Bearer ${tenant.token}` }, payload: { data: { i } } });
      expect(created.statusCode, created.body).toBe(201);
    }
    const switched = await keysOf(restarted, tenant);
    const v1 = version(switched, 1);
    // Two records and their two access-log entries (with the reads' entries, sealed under the new cipher).
    expect(v1.valuesByAlgorithm.A256GCM).toBe(aesValues);
    expect(v1.valuesByAlgorithm.C20P1305).toBeGreaterThanOrEqual(4);
    expect(v1.values).toBe(v1.valuesByAlgorithm.A256GCM! + v1.valuesByAlgorithm.C20P1305!);
    expect(switched.due).toBe(true);
    expect(switched.dueReasons).toEqual([`${aesValues} values are sealed with A256GCM, not the primary cipher C20P1305 (CONFIDE_DATA_CIPHER), and no re-encryption is running`]);

    const rotated = await restarted.publicServer.inject({ method: 'POST', url: '/v1/tenant/keys/rotate', headers: { authorization: `Bearer ${tenant.token}` } });
    expect(rotated.statusCode, rotated.body).toBe(202);
    expect(await runJob(restarted, tenant.tenantId)).toBe('done');
    const resealed = await keysOf(restarted, tenant);
    expect(version(resealed, 2)).toMatchObject({ state: 'active', values: await countOwned(restarted.services.db, tenant.tenantId) });
    expect(Object.keys(version(resealed, 2).valuesByAlgorithm)).toEqual(['C20P1305']);
    expect(resealed.due).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { parsePrometheusText } from '../harness/prometheus-text.js';
import { columnsOwnedBy, readBatch, resealRows } from '../../src/key-rotation/column-walk.js';
import { DESTROY_GRACE_MS } from '../../src/key-rotation/reencryption-worker.js';

const METRICS_TOKEN = randomBytes(32).toString('hex');

/** The walk's parts one at a time: what a concurrent write does between its read and its update, the gauges, a superseding rotation. */
describe.each(DIALECTS)('the re-encryption walk on %s', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_METRICS_TOKEN: METRICS_TOKEN } });
  });
  afterEach(async () => {
    await t.close();
  });

  it('leaves a value a user rewrote between the walk’s read and its update as the user wrote it', async () => {
    const { db, keyRing } = t.app.services;
    const owner = await buildTenant(t);
    const raced = await buildRecord(t, owner, 'patients', { name: 'before' });
    const calm = await buildRecord(t, owner, 'patients', { name: 'calm' });
    await keyRing.rotate(owner.tenantId);
    const field = columnsOwnedBy(owner.tenantId).find((f) => f.name === 'recordsData')!;
    const rows = await readBatch(db, field, owner.tenantId, null, 100);
    expect(rows).toHaveLength(2);
    // The user's write lands after the walk read the rows and before it writes them back.
    const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${raced.id}`, token: owner.token, payload: { name: 'after' } });
    expect(put.statusCode, put.body).toBe(200);
    const resealed = await resealRows(db, t.app.services.dialect, field, await keyRing.cipherFor(owner.tenantId), rows);
    expect(resealed).toBe(1); // the calm one; the raced one was left alone
    const read = async (id: string) => (await t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: owner.token })).json().data;
    expect(await read(raced.id)).toEqual({ name: 'after' });
    expect(await read(calm.id)).toEqual({ name: 'calm' });
    const stored = await db.selectFrom('records').select('data_enc').where('tenant_id', '=', owner.tenantId).execute();
    expect(stored.map((row) => row.data_enc.split('.')[2])).toEqual(['2', '2']);
  });

  it('shows a running job’s progress in the metrics, and a newer rotation supersedes it and destroys both old versions', async () => {
    const owner = await buildTenant(t);
    await buildRecord(t, owner);
    const scrape = async () => parsePrometheusText((await t.admin({ method: 'GET', url: '/metrics', token: METRICS_TOKEN })).body);
    expect((await scrape()).value('confide_key_reencryption_jobs')).toBe(0);

    const first = (await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: owner.token })).json().rotation;
    const exposition = await scrape();
    expect(exposition.value('confide_key_reencryption_jobs')).toBe(1);
    expect(exposition.value('confide_key_reencryption_values_total')).toBe(first.total);
    expect(exposition.value('confide_key_reencryption_values_done')).toBe(0);

    const second = await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: owner.token });
    expect(second.json().rotation).toMatchObject({ toVersion: 3, state: 'running' });
    const superseded = await t.app.services.db.selectFrom('key_rotations').select('state').where('id', '=', first.id).executeTakeFirstOrThrow();
    expect(superseded.state).toBe('superseded');

    // The grace before destruction counts from the job's start and from this node's first sight of it.
    expect(await t.app.keyRotation.runOnce()).toEqual(['waiting']);
    t.clock.advance(DESTROY_GRACE_MS / 1000 + 1);
    expect(await t.app.keyRotation.runOnce()).toEqual(['done']);
    const status = (await t.request({ method: 'GET', url: '/v1/tenant/keys', token: owner.token })).json();
    expect(status.keys.map((v: { state: string }) => v.state)).toEqual(['destroyed', 'destroyed', 'active', 'next']);
    expect((await scrape()).value('confide_key_reencryption_jobs')).toBe(0);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { countOwned, expectAllUnder, insertRecords } from '../harness/key-fixture.js';

const BATCH = 200;
const VALUES = 6_000;

interface Rotation {
  state: string;
  done: number;
  total: number;
}

/**
 * The re-encryption job in a real `confide serve`, killed with SIGKILL half-way: started again, it
 * resumes from its last committed checkpoint, so it neither re-does nor skips a value (its count
 * of values done ends exactly at the total), and every value ends under the new version.
 */
describe.each(DIALECTS)('re-encryption killed half-way on %s', (dialect) => {
  let t: TestApp;
  let server: ServerProcess | undefined;
  beforeEach(async () => {
    // The in-process app only fills the database and checks it afterwards: its workers never run.
    t = await createTestApp(dialect, { env: { CONFIDE_REENCRYPT_BATCH: String(BATCH), CONFIDE_REENCRYPT_PAUSE_MS: '100', CONFIDE_LOG_LEVEL: 'warn' } });
  });
  afterEach(async () => {
    if (server) await killHard(server);
    await t.close();
  });

  async function rotationOf(port: number, token: string): Promise<Rotation> {
    const status = await httpsJson(port, 'GET', '/v1/tenant/keys', undefined, token);
    expect(status.status, JSON.stringify(status.body)).toBe(200);
    return status.body.rotation as Rotation;
  }

  async function waitFor(port: number, token: string, until: (rotation: Rotation) => boolean, ms: number): Promise<Rotation> {
    const deadline = Date.now() + ms;
    for (;;) {
      const rotation = await rotationOf(port, token);
      if (until(rotation)) return rotation;
      if (Date.now() > deadline) throw new Error(`rotation stuck at ${JSON.stringify(rotation)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('resumes after SIGKILL exactly where it stopped and completes with every value re-encrypted', { timeout: 180_000 }, async () => {
    const { db, keyRing } = t.app.services;
    const owner = await buildTenant(t);
    await buildRecord(t, owner, 'visits');
    await insertRecords(db, keyRing, owner.tenantId, 'visits', VALUES, t.clock.now().toISOString());
    const total = await countOwned(db, owner.tenantId);

    const port = await freePort();
    server = await startServerProcess(t.env, port);
    const rotated = await httpsJson(port, 'POST', '/v1/tenant/keys/rotate', undefined, owner.token);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(202);
    expect(rotated.body.rotation.total).toBe(total);

    // Kill it once a few batches are committed and well before the end.
    const atKill = await waitFor(port, owner.token, (r) => r.done >= 3 * BATCH, 60_000);
    await killHard(server);
    expect(atKill.done).toBeLessThan(total / 2);
    const afterKill = await db.selectFrom('key_rotations').select(['state', 'values_done', 'field', 'position']).executeTakeFirstOrThrow();
    expect(afterKill.state).toBe('running');
    expect(Number(afterKill.values_done)).toBeGreaterThanOrEqual(atKill.done);
    expect(Number(afterKill.values_done)).toBeLessThan(total);
    expect(afterKill.position).not.toBeNull(); // a checkpoint inside a field, committed with its batch

    // The new process takes the job over once the dead one's lease has expired, and finishes it.
    server = await startServerProcess(t.env, port);
    const done = await waitFor(port, owner.token, (r) => r.state === 'complete', 120_000);
    expect(done.done).toBe(total);
    expect(done.total).toBe(total);

    const versions = await keyRing.versionsOf(owner.tenantId);
    expect(versions.map((v) => v.state)).toEqual(['destroyed', 'active', 'next']);
    await keyRing.forget(owner.tenantId);
    const byField = await expectAllUnder(db, keyRing, owner.tenantId, 2);
    expect(Object.values(byField).reduce((a, b) => a + b, 0)).toBe(total);
    const verify = await httpsJson(port, 'GET', '/v1/access-log/verify', undefined, owner.token);
    expect(verify.body).toMatchObject({ ok: true });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { AccessLogSelfCheck } from '../../src/monitoring/access-log-self-check.js';

/**
 * The access-log self-check spends at most a time budget per monitor run and resumes where it
 * stopped, round-robin by tenant id, so every tenant is verified within a bounded number of runs
 * and a broken chain is still found, in whichever run reaches it.
 */
describe.each(DIALECTS)('access-log self-check time budget on %s', (dialect) => {
  let t: TestApp;
  /** Every tenant's id, in the order a pass visits them. */
  let tenantIds: string[];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    for (let i = 0; i < 5; i += 1) await buildRecord(t, await buildTenant(t));
    tenantIds = (await t.app.services.db.selectFrom('tenants').select('id').orderBy('id').execute()).map((row) => row.id);
    expect(tenantIds).toHaveLength(5);
  });
  afterAll(async () => t?.close());

  /** Alters the newest access-log entry of a tenant (its chain no longer verifies); returns the undo. */
  async function breakChain(tenantId: string): Promise<() => Promise<void>> {
    const { db } = t.app.services;
    const entry = await db.selectFrom('access_log').select(['seq', 'hash']).where('tenant_id', '=', tenantId).orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await db.updateTable('access_log').set({ hash: 'f'.repeat(entry.hash.length) }).where('tenant_id', '=', tenantId).where('seq', '=', entry.seq).execute();
    return async () => void (await db.updateTable('access_log').set({ hash: entry.hash }).where('tenant_id', '=', tenantId).where('seq', '=', entry.seq).execute());
  }

  /** The tenants recorded as failing verification at or after `since`. */
  async function failedTenants(since: Date): Promise<string[]> {
    await t.app.services.securityEvents.flush();
    const rows = await t.app.services.db.selectFrom('security_events').select('tenant_id').where('type', '=', 'audit.verification.failed').where('at', '>=', since.toISOString()).execute();
    return rows.map((row) => row.tenant_id!).sort();
  }

  it('two runs cover all five tenants when each run has time for three, and both broken chains are found', async () => {
    // A stopwatch that moves one second per look: a 2.5 s budget is spent after the third tenant.
    let ms = 0;
    const check = new AccessLogSelfCheck(t.app.services, { budgetMs: 2_500, stopwatch: () => (ms += 1_000) - 1_000 });
    const [early, late] = [tenantIds[1]!, tenantIds[4]!];
    const undo = [await breakChain(early), await breakChain(late)];
    try {
      t.clock.advance(60);
      const since = t.clock.now();
      expect(await check.runOnce(t.clock.now())).toEqual({ verified: 3, failed: 1, passDone: false });
      expect(await failedTenants(since)).toEqual([early]);
      t.clock.advance(60);
      expect(await check.runOnce(t.clock.now())).toEqual({ verified: 2, failed: 1, passDone: true });
      expect(await failedTenants(since)).toEqual([early, late].sort());
      // The pass is over: nothing more until the next one, an hour after this one started.
      t.clock.advance(60);
      expect(await check.runOnce(t.clock.now())).toEqual({ verified: 0, failed: 0, passDone: false });
      t.clock.advance(3_600);
      expect((await check.runOnce(t.clock.now())).verified).toBe(3);
    } finally {
      for (const restore of undo) await restore();
    }
  });

  it('records a tenant whose check cannot run (its key cannot be opened) as failed, and goes on to the tenants after it', async () => {
    const { db, keyRing } = t.app.services;
    const broken = tenantIds[2]!;
    const key = await db.selectFrom('key_ring').select(['id', 'wrapped_key']).where('owner', '=', broken).executeTakeFirstOrThrow();
    await db.updateTable('key_ring').set({ wrapped_key: `${key.wrapped_key.slice(0, -4)}AAAA` }).where('id', '=', key.id).execute();
    await keyRing.forget(broken);
    try {
      t.clock.advance(2 * 3_600);
      const since = t.clock.now();
      const check = new AccessLogSelfCheck(t.app.services);
      expect(await check.runOnce(t.clock.now())).toEqual({ verified: 5, failed: 1, passDone: true });
      expect(await failedTenants(since)).toEqual([broken]);
    } finally {
      await db.updateTable('key_ring').set({ wrapped_key: key.wrapped_key }).where('id', '=', key.id).execute();
      await keyRing.forget(broken);
    }
  });

  it('with no time to spare (real clock, budget 0) each run still verifies one tenant, so a pass takes one run per tenant', async () => {
    const check = new AccessLogSelfCheck(t.app.services, { budgetMs: 0 });
    const last = tenantIds.at(-1)!;
    const undo = await breakChain(last);
    try {
      const since = t.clock.now();
      const runs = [];
      for (let i = 0; i < tenantIds.length; i += 1) {
        t.clock.advance(60);
        runs.push(await check.runOnce(t.clock.now()));
      }
      expect(runs.map((run) => run.verified)).toEqual([1, 1, 1, 1, 1]);
      expect(runs.map((run) => run.failed)).toEqual([0, 0, 0, 0, 1]);
      expect(await failedTenants(since)).toEqual([last]);
    } finally {
      await undo();
    }
  });

  it('with the default budget (5 s) one run verifies every tenant', async () => {
    const check = new AccessLogSelfCheck(t.app.services);
    expect(await check.runOnce(t.clock.now())).toEqual({ verified: 5, failed: 0, passDone: true });
  });
});

describe.each(DIALECTS)('access-log self-check against signed checkpoints on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('finds a cut tail whose head was rewritten to match, which the chain alone cannot show', async () => {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 6; i += 1) await buildRecord(t, tenant);
    const { db, checkpoints, securityEvents } = t.app.services;
    const checkpoint = (await checkpoints.checkpointNow(tenant.tenantId))!;
    const third = await db.selectFrom('access_log').select('hash').where('tenant_id', '=', tenant.tenantId).where('seq', '=', 3).executeTakeFirstOrThrow();
    await db.deleteFrom('access_log').where('tenant_id', '=', tenant.tenantId).where('seq', '>', 3).execute();
    await db.updateTable('access_log_heads').set({ seq: 3, hash: third.hash }).where('tenant_id', '=', tenant.tenantId).execute();
    expect(checkpoint.seq).toBeGreaterThan(3);

    const since = t.clock.now();
    expect(await new AccessLogSelfCheck(t.app.services).runOnce(t.clock.now())).toEqual({ verified: 1, failed: 1, passDone: true });
    await securityEvents.flush();
    const failed = await db.selectFrom('security_events').select('tenant_id').where('type', '=', 'audit.verification.failed').where('at', '>=', since.toISOString()).execute();
    expect(failed).toEqual([{ tenant_id: tenant.tenantId }]);
  });

  it('a checkpoint signed by a key made after the run read the keys (a rotation meanwhile) is read again, not reported', async () => {
    const tenant = await buildTenant(t);
    await buildRecord(t, tenant);
    const { checkpoints, signingKeys } = t.app.services;
    await checkpoints.checkpointNow(tenant.tenantId);
    let reads = 0;
    // The first read of the keys predates the key that signed the checkpoint.
    const rotatedMeanwhile = { authenticPublicKeys: async () => (reads++ === 0 ? new Map<string, Buffer>() : signingKeys.authenticPublicKeys()) };
    t.clock.advance(2 * 3_600);
    const since = t.clock.now();
    const check = new AccessLogSelfCheck({ ...t.app.services, signingKeys: rotatedMeanwhile });
    await check.runOnce(t.clock.now());
    expect(reads).toBeGreaterThanOrEqual(2);
    await t.app.services.securityEvents.flush();
    const failed = await t.app.services.db.selectFrom('security_events').select('tenant_id').where('type', '=', 'audit.verification.failed').where('tenant_id', '=', tenant.tenantId).where('at', '>=', since.toISOString()).execute();
    expect(failed).toEqual([]);
  });
});

import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { heldLoopClockMs } from '../harness/held-loop-clock.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { AccessLogSelfCheck, SELF_CHECK_SLICE_MS } from '../../src/monitoring/access-log-self-check.js';
import type { AccessLogEntry } from '../../src/audit/access-event.js';
import { entryToRow } from '../../src/audit/access-log-rows.js';
import { entryHash } from '../../src/audit/hash-chain.js';
import { eventOf } from '../../src/security-events/security-event-store.js';

/**
 * The self-check stops partway through a long chain when its budget is spent and the next run
 * goes on from there (it never starts the chain again), and it works in slices with turns of the
 * event loop between them, so it never holds the loop for long whatever a chain holds.
 */
describe.each(DIALECTS)('access-log self-check in slices on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => t?.close());

  /** The failed verifications recorded at or after `since`: tenant and details. */
  async function failures(since: Date): Promise<Array<{ tenantId: string | null; details: Record<string, unknown> | undefined }>> {
    const { db, securityEvents, keyRing } = t.app.services;
    await securityEvents.flush();
    const rows = await db.selectFrom('security_events').selectAll().where('type', '=', 'audit.verification.failed').where('at', '>=', since.toISOString()).execute();
    return rows.map((row) => ({ tenantId: row.tenant_id, details: eventOf(keyRing.systemCipher(), row).details }));
  }

  /** Appends `count` genuine entries to a tenant's chain directly (as the access log would, without a request each), moving its head. */
  async function appendEntries(tenant: TestTenant, count: number): Promise<void> {
    const { db, keyRing } = t.app.services;
    const cipher = await keyRing.cipherFor(tenant.tenantId);
    const head = await db.selectFrom('access_log_heads').select(['seq', 'hash']).where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow();
    let [seq, prevHash] = [Number(head.seq), head.hash];
    for (let done = 0; done < count; ) {
      const rows = [];
      for (const end = Math.min(count, done + 200); done < end; done += 1) {
        seq += 1;
        const unhashed: Omit<AccessLogEntry, 'hash'> = { actor: { type: 'member', id: 'test-member' }, ip: '192.0.2.7', action: 'read', resource: { type: 'record', collection: 'patients', id: `r-${seq}` }, seq, at: new Date().toISOString(), prevHash };
        const entry = { ...unhashed, hash: entryHash(tenant.tenantId, unhashed) };
        rows.push(entryToRow(tenant.tenantId, entry, cipher));
        prevHash = entry.hash;
      }
      await db.insertInto('access_log').values(rows).execute();
    }
    await db.updateTable('access_log_heads').set({ seq, hash: prevHash }).where('tenant_id', '=', tenant.tenantId).execute();
  }

  it('resumes a chain where the last run stopped (not from its start), and walks entries appended meanwhile', async () => {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 6; i += 1) await buildRecord(t, tenant);
    const { db } = t.app.services;
    const entries = Number((await db.selectFrom('access_log_heads').select('seq').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow()).seq);
    expect(entries).toBeGreaterThanOrEqual(6);
    // No budget and two entries a page: every run walks one page of the chain and stops.
    const check = new AccessLogSelfCheck(t.app.services, { budgetMs: 0, entriesPerPage: 2 });
    t.clock.advance(60);
    const since = t.clock.now();
    expect(await check.runOnce(t.clock.now())).toEqual({ verified: 0, failed: 0, passDone: false });

    // Entry 1, walked by that run with entry 2 (which links to it), is altered now: a run that started the
    // chain again would find it, one that goes on from entry 3 cannot.
    const first = await db.selectFrom('access_log').select('hash').where('tenant_id', '=', tenant.tenantId).where('seq', '=', 1).executeTakeFirstOrThrow();
    await db.updateTable('access_log').set({ hash: 'f'.repeat(first.hash.length) }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 1).execute();
    try {
      await buildRecord(t, tenant); // appended while the walk is under way: walked too, and no head mismatch
      const total = Number((await db.selectFrom('access_log_heads').select('seq').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow()).seq);
      expect(total).toBeGreaterThan(entries);
      const runs = [];
      for (let i = 0; i <= total; i += 1) {
        t.clock.advance(60);
        runs.push(await check.runOnce(t.clock.now()));
        if (runs.at(-1)!.passDone) break;
      }
      // One page a run, each after the last: the chain's end is reached on the run after the one that
      // walked its last full page, and the run after that finds no tenant left.
      const walking = Math.floor(total / 2) - 1;
      expect(runs).toEqual([
        ...Array.from({ length: walking }, () => ({ verified: 0, failed: 0, passDone: false })),
        { verified: 1, failed: 0, passDone: false },
        { verified: 0, failed: 0, passDone: true },
      ]);
      expect(await failures(since)).toEqual([]);

      // The next pass walks the chain from its start again, and so finds the altered entry.
      t.clock.advance(3_600);
      const again = t.clock.now();
      for (let run = await check.runOnce(again); !run.passDone; run = await check.runOnce(t.clock.now())) t.clock.advance(60);
      const found = await failures(again);
      expect(found).toEqual([{ tenantId: tenant.tenantId, details: { entries: total, firstBadSeq: 1, problems: ['hash_mismatch', 'chain_broken'] } }]);
    } finally {
      await db.updateTable('access_log').set({ hash: first.hash }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 1).execute();
    }
  });

  it('passes over a tenant deleted while its chain was walked (between two runs), recording no failure', async () => {
    const other = await createTestApp(dialect);
    try {
      const tenant = await buildTenant(other);
      for (let i = 0; i < 4; i += 1) await buildRecord(other, tenant);
      const check = new AccessLogSelfCheck(other.app.services, { budgetMs: 0, entriesPerPage: 2 });
      other.clock.advance(60);
      const since = other.clock.now();
      expect(await check.runOnce(other.clock.now())).toEqual({ verified: 0, failed: 0, passDone: false });
      const deleted = await other.request({ method: 'DELETE', url: '/v1/tenant', token: tenant.token, payload: { confirm: tenant.tenantId, password: tenant.password } });
      expect(deleted.statusCode, deleted.body).toBe(204);
      // Passed over (not verified, not failed), and the next run finds no tenant left.
      other.clock.advance(60);
      expect(await check.runOnce(other.clock.now())).toEqual({ verified: 0, failed: 0, passDone: false });
      other.clock.advance(60);
      expect(await check.runOnce(other.clock.now())).toEqual({ verified: 0, failed: 0, passDone: true });
      await other.app.services.securityEvents.flush();
      const failed = await other.app.services.db.selectFrom('security_events').select('tenant_id').where('type', '=', 'audit.verification.failed').where('at', '>=', since.toISOString()).execute();
      expect(failed).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it(`never holds the event loop for much more than a slice (${SELF_CHECK_SLICE_MS} ms) while it walks a chain of 10,000 entries`, async () => {
    const tenant = await buildTenant(t);
    await appendEntries(tenant, 10_000);
    // A probe that runs on every turn of the event loop: the longest gap between two runs is the longest the loop was held.
    // Gaps are timed by heldLoopClockMs: the clock, less any time the machine left this process
    // waiting for a CPU (other test files run beside this one), when no code held the loop.
    const gaps: number[] = [];
    let last = heldLoopClockMs();
    let probing = true;
    const probe = () => {
      const now = heldLoopClockMs();
      gaps.push(now - last);
      last = now;
      if (probing) setImmediate(probe);
    };
    t.clock.advance(3 * 3_600);
    const since = t.clock.now();
    const check = new AccessLogSelfCheck(t.app.services);
    setImmediate(probe);
    const started = heldLoopClockMs();
    const run = await check.runOnce(t.clock.now());
    const took = heldLoopClockMs() - started;
    // One more turn, so the probe measures the stretch that ended with the run too.
    await nextTurn();
    probing = false;
    const longest = gaps.reduce((a, b) => Math.max(a, b), 0);
    expect(run.passDone).toBe(true);
    expect(run.failed).toBe(0);
    expect(await failures(since)).toEqual([]);
    // Walking 10,000 entries takes far longer than a slice (about 250 ms here). In one stretch
    // (the old walk on SQLite, where every query is synchronous: the probe ran once or twice) or a
    // stretch per 1,000-entry page (on PostgreSQL) the loop is held for tens of milliseconds; in
    // slices it turns every few milliseconds.
    expect(took).toBeGreaterThan(20 * SELF_CHECK_SLICE_MS);
    expect(gaps.length).toBeGreaterThan(took / (5 * SELF_CHECK_SLICE_MS));
    expect(longest).toBeLessThan(30);
    expect(gaps.filter((gap) => gap > 12).length).toBeLessThanOrEqual(2);
  });
});

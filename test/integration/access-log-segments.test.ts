import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLogChainWalk } from '../../src/audit/access-log-chain-walk.js';
import { verifyAccessLog, verifySegment, walkToTheHead, type VerificationReport } from '../../src/audit/verify-access-log.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, type TestTenant } from '../harness/builders.js';

/**
 * A chain walked in segments (`confide audit verify --jobs`: each verifier process walks one,
 * AccessLogChainWalk.addSegment takes them in) must give the report one walk gives, whatever was
 * done to the chain, above all at the seams between segments.
 */
describe.each(DIALECTS)('an access-log chain walked in segments on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const db = () => t.app.services.db;

  /** A tenant with `count` more entries, appended as reads append them, and a checkpoint signed after entry `checkpointAt`. */
  async function tenantWithEntries(count: number, checkpointAt?: number): Promise<TestTenant> {
    const tenant = await buildTenant(t);
    const cipher = await t.app.services.keyRing.cipherFor(tenant.tenantId);
    for (let i = 0; i < count; i++) {
      await t.app.services.accessLog.appendDurably(tenant.tenantId, cipher, { actor: { type: 'member', id: tenant.userId }, action: 'read', resource: { type: 'record', collection: 'c', id: `r${i}` }, ip: '127.0.0.1' });
      if (i + 1 === checkpointAt) await t.app.services.checkpoints.checkpointNow(tenant.tenantId);
    }
    return tenant;
  }

  async function whole(tenantId: string): Promise<VerificationReport> {
    const anchor = { checkpoint: await t.app.services.checkpoints.latest(tenantId), publicKeys: await t.app.services.signingKeys.authenticPublicKeys() };
    return verifyAccessLog(db(), tenantId, await t.app.services.keyRing.cipherFor(tenantId), anchor);
  }

  /** The same walk, cut at `cuts` (each the first seq of a segment after the first): the segments walked alone, then taken in. */
  async function inSegments(tenantId: string, cuts: number[], toSeq: number): Promise<VerificationReport> {
    const checkpoint = await t.app.services.checkpoints.latest(tenantId);
    const cipher = await t.app.services.keyRing.cipherFor(tenantId);
    const starts = [1, ...cuts];
    const summaries = await Promise.all(starts.map((from, i) => verifySegment(db(), tenantId, cipher, from, i + 1 < starts.length ? starts[i + 1]! - 1 : toSeq, checkpoint?.seq)));
    const walk = new AccessLogChainWalk(tenantId, checkpoint);
    for (const summary of summaries) walk.addSegment(summary);
    return walkToTheHead(db(), walk, cipher, await t.app.services.signingKeys.authenticPublicKeys());
  }

  async function expectSameReports(tenantId: string, toSeq: number, expectOk: boolean): Promise<VerificationReport> {
    const one = await whole(tenantId);
    expect(one.ok).toBe(expectOk);
    for (const cuts of [[21], [20, 41], [2, 3, 40], [30], [31], [toSeq]]) expect(await inSegments(tenantId, cuts, toSeq), `cut at ${cuts.join(', ')}`).toEqual(one);
    return one;
  }

  it('reports an intact chain, held against its checkpoint, the same', async () => {
    const tenant = await tenantWithEntries(60, 30);
    const report = await expectSameReports(tenant.tenantId, 60, true);
    expect(report.entries).toBe(60);
    expect(report.checkpoint?.seq).toBe(30);
  });

  it('reports a changed entry, a deleted entry and a broken link at a seam the same', async () => {
    const tenant = await tenantWithEntries(60);
    const id = tenant.tenantId;
    await db().updateTable('access_log').set({ resource_id: 'forged' }).where('tenant_id', '=', id).where('seq', '=', 21).execute();
    await db().deleteFrom('access_log').where('tenant_id', '=', id).where('seq', '=', 41).execute();
    await db().updateTable('access_log').set({ prev_hash: 'f'.repeat(64) }).where('tenant_id', '=', id).where('seq', '=', 3).execute();
    const report = await expectSameReports(id, 60, false);
    expect(report.problems.map((problem) => [problem.seq, problem.kind])).toEqual([[3, 'chain_broken'], [3, 'hash_mismatch'], [21, 'hash_mismatch'], [41, 'missing'], [42, 'chain_broken']]);
  });

  it('reports a whole segment deleted, and a cut tail, the same', async () => {
    const tenant = await tenantWithEntries(60, 55);
    const id = tenant.tenantId;
    await db().deleteFrom('access_log').where('tenant_id', '=', id).where('seq', '>=', 20).where('seq', '<=', 41).execute();
    await db().deleteFrom('access_log').where('tenant_id', '=', id).where('seq', '>', 57).execute();
    const report = await expectSameReports(id, 60, false);
    expect(report.problems.map((problem) => problem.kind)).toEqual(expect.arrayContaining(['missing', 'chain_broken', 'head_mismatch']));
  });

  it('keeps the same first 100 problems when every entry of several segments is broken', async () => {
    const tenant = await tenantWithEntries(130);
    await db().updateTable('access_log').set({ actor_id: 'forged' }).where('tenant_id', '=', tenant.tenantId).execute();
    const report = await expectSameReports(tenant.tenantId, 130, false);
    expect(report.problems).toHaveLength(100);
  });

  it('walks on to entries appended after the segments were planned, to a checkpoint past them', async () => {
    const tenant = await tenantWithEntries(45);
    const cipher = await t.app.services.keyRing.cipherFor(tenant.tenantId);
    await t.app.services.accessLog.appendDurably(tenant.tenantId, cipher, { actor: { type: 'member', id: tenant.userId }, action: 'read', resource: { type: 'record', collection: 'c', id: 'late' }, ip: '127.0.0.1' });
    await t.app.services.checkpoints.checkpointNow(tenant.tenantId);
    const report = await inSegments(tenant.tenantId, [21], 45); // planned to seq 45; 46 and its checkpoint came later
    expect(report).toEqual(await whole(tenant.tenantId));
    expect(report).toMatchObject({ ok: true, entries: 46, checkpoint: { seq: 46 } });
    // Entry 46 changed: the checkpoint past the segments still catches it.
    await db().updateTable('access_log').set({ resource_id: 'forged' }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 46).execute();
    const broken = await inSegments(tenant.tenantId, [21], 45);
    expect(broken).toEqual(await whole(tenant.tenantId));
    expect(broken.ok).toBe(false);
  });
});

import { performance } from 'node:perf_hooks';
import { AccessLogChainWalk, readChainPage } from '../audit/access-log-chain-walk.js';
import { readChainHead } from '../audit/access-log.js';
import type { VerificationReport } from '../audit/verify-access-log.js';
import { EventLoopSlices } from '../lib/event-loop-slices.js';
import { tenantExists } from '../tenants/tenant-repository.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/** A pass over every tenant starts at most this often. */
const CYCLE_SECONDS = 3600;
/**
 * Time one monitor run may spend verifying chains. A tenant's chain takes as long as it is long,
 * so a count of tenants per run bounds nothing; a time budget keeps each run (and the rule
 * evaluation after it, on the same minute's tick) short whatever the tenants hold.
 */
export const SELF_CHECK_BUDGET_MS = 5_000;
/**
 * The longest the check runs before the event loop takes a turn: a request waits behind it for
 * about this long at most. Verifying an entry takes some microseconds, so a slice is a few
 * hundred entries, and the turns between slices cost next to nothing.
 */
export const SELF_CHECK_SLICE_MS = 2;
/** Tenant ids read per query while a run's budget lasts. */
const TENANTS_PER_PAGE = 100;
/**
 * Access-log entries read per query; a run can stop after any full page of a tenant's chain. On the
 * embedded database a read is synchronous too: 100 rows take about half a millisecond, a few when
 * the pages are not cached, so a read never makes a slice much longer.
 */
const ENTRIES_PER_PAGE = 100;

export interface AccessLogSelfCheckOptions {
  /** [SELF_CHECK_BUDGET_MS] */
  budgetMs?: number;
  /** A monotonic clock in milliseconds [performance.now]: the budget is real time, not the injectable clock's. */
  stopwatch?: () => number;
  /** [SELF_CHECK_SLICE_MS] */
  sliceMs?: number;
  /** [ENTRIES_PER_PAGE] */
  entriesPerPage?: number;
}

type SelfCheckDeps = Pick<MonitoringDeps, 'db' | 'keyRing' | 'securityEvents' | 'checkpoints' | 'signingKeys'>;

/** What one run shares between the tenants it verifies. */
interface RunContext {
  /** Whether the run's time budget is spent. */
  spent: () => boolean;
  slices: EventLoopSlices;
  /** The deployment's authentic signing keys, read once a run (again after a rotation: see finish). */
  publicKeys: ReadonlyMap<string, Buffer>;
}

/**
 * The periodic self-verification of every tenant's access-log chain (the checks of
 * `confide audit verify`, AccessLogChainWalk), round-robin by tenant id: each monitor run verifies
 * until its time budget is spent, and the next run resumes where it stopped, after the last entry
 * walked, inside a long chain too. A run always walks at least one page of entries, so a pass
 * always moves on; it ends within (total verification time / budget) runs, one a minute, and a new
 * pass starts at most hourly. The work is done in slices of SELF_CHECK_SLICE_MS with a turn of the
 * event loop between them, so requests are served while it runs.
 * Each chain is held against its tenant's latest signed checkpoint (read when its walk began) too,
 * as `confide audit verify` does, so a cut tail whose head was rewritten to match is caught here
 * as well. A chain that fails is recorded as `audit.verification.failed`, which the
 * `access-log-verification-failed` rule alerts on. The position in the pass is this node's: if the
 * lease moves to another node, that node starts a pass of its own.
 */
export class AccessLogSelfCheck {
  /** The last tenant whose chain was verified in the pass under way; null between passes. */
  private after: string | null = null;
  /** The tenant (the one after `after`) whose chain a run stopped partway through: the next run goes on with it. */
  private walk: AccessLogChainWalk | null = null;
  private passStartedAt: number | null = null;
  private readonly budgetMs: number;
  private readonly stopwatch: () => number;
  private readonly sliceMs: number;
  private readonly entriesPerPage: number;

  constructor(
    private readonly deps: SelfCheckDeps,
    options: AccessLogSelfCheckOptions = {},
  ) {
    this.budgetMs = options.budgetMs ?? SELF_CHECK_BUDGET_MS;
    this.stopwatch = options.stopwatch ?? (() => performance.now());
    this.sliceMs = options.sliceMs ?? SELF_CHECK_SLICE_MS;
    this.entriesPerPage = options.entriesPerPage ?? ENTRIES_PER_PAGE;
  }

  /**
   * Verifies on when a pass is due or under way, within the budget; returns how many chains were
   * verified to their end in this run, how many of them failed, and whether the pass is over.
   */
  async runOnce(now: Date): Promise<{ verified: number; failed: number; passDone: boolean }> {
    if (this.after === null) {
      if (this.passStartedAt !== null && now.getTime() - this.passStartedAt < CYCLE_SECONDS * 1000) return { verified: 0, failed: 0, passDone: false };
      this.passStartedAt = now.getTime();
      this.after = '';
      this.walk = null;
    }
    const started = this.stopwatch();
    const run: RunContext = {
      spent: () => this.stopwatch() - started >= this.budgetMs,
      slices: new EventLoopSlices(this.sliceMs),
      publicKeys: await this.deps.signingKeys.authenticPublicKeys(),
    };
    let verified = 0;
    let failed = 0;
    for (;;) {
      const tenants = this.walk ? [{ id: this.walk.tenantId }] : await this.nextTenants();
      for (const { id } of tenants) {
        const outcome = await this.verify(id, run);
        if (outcome === 'paused') return { verified, failed, passDone: false };
        if (outcome === 'failed') failed += 1;
        if (outcome !== 'deleted') verified += 1;
        this.after = id;
        if (run.spent()) return { verified, failed, passDone: false };
        if (run.slices.due()) await run.slices.yield();
      }
      if (tenants.length === 0) break;
    }
    this.after = null;
    return { verified, failed, passDone: true };
  }

  private async nextTenants(): Promise<Array<{ id: string }>> {
    return this.deps.db.selectFrom('tenants').select('id').where('id', '>', this.after!).orderBy('id').limit(TENANTS_PER_PAGE).execute();
  }

  /**
   * Walks on with one tenant's chain (from its start, or from where the last run stopped) and,
   * at its end, records a failure as a security event. A check that cannot run (the tenant's key
   * cannot be opened, a row cannot be read) is a failure too, recorded with the kind
   * `check-failed`, and the pass moves on: one tenant must not stop every later one being checked.
   * A tenant deleted while its chain was walked (its key shredded, its rows removed, perhaps
   * between two runs) is no failure: it is passed over.
   */
  private async verify(tenantId: string, run: RunContext): Promise<'ok' | 'failed' | 'paused' | 'deleted'> {
    let report: VerificationReport | 'paused';
    try {
      const walk = this.walk ?? new AccessLogChainWalk(tenantId, await this.deps.checkpoints.latest(tenantId));
      this.walk = null;
      report = await this.walkOn(walk, run);
    } catch {
      if (await this.deleted(tenantId)) return 'deleted';
      this.record(tenantId, { problems: ['check-failed'] });
      return 'failed';
    }
    if (report === 'paused') return 'paused';
    if (report.ok) return 'ok';
    if (await this.deleted(tenantId)) return 'deleted';
    this.record(tenantId, { entries: report.entries, firstBadSeq: report.firstBadSeq, problems: report.problems.slice(0, 5).map((problem) => problem.kind) });
    return 'failed';
  }

  /** Whether the tenant is gone; a database that cannot say is taken to mean it is not (the failure is recorded). */
  private async deleted(tenantId: string): Promise<boolean> {
    return !(await tenantExists(this.deps.db, tenantId).catch(() => true));
  }

  /** Pages through the chain after the walk's last entry, a slice at a time, to its end; or until the budget is spent after a full page. */
  private async walkOn(walk: AccessLogChainWalk, run: RunContext): Promise<VerificationReport | 'paused'> {
    const { db, keyRing } = this.deps;
    // Fetched again on each run: the tenant's key may have rotated since the walk began.
    const cipher = await keyRing.cipherFor(walk.tenantId);
    for (;;) {
      const rows = await readChainPage(db, walk.tenantId, walk.lastSeq, this.entriesPerPage);
      for (const row of rows) {
        walk.add(row, cipher);
        if (run.slices.due()) await run.slices.yield();
      }
      if (rows.length === this.entriesPerPage) {
        if (!run.spent()) continue;
        this.walk = walk;
        return 'paused';
      }
      const head = await readChainHead(db, walk.tenantId);
      if (walk.isBehind(head)) continue;
      const report = walk.finish(head, run.publicKeys);
      // A checkpoint signed by a key made since this run read the keys (a signing-key rotation) is no tampering: read them again once.
      if (!report.problems.some((problem) => problem.kind === 'checkpoint_invalid')) return report;
      run.publicKeys = await this.deps.signingKeys.authenticPublicKeys();
      return walk.finish(head, run.publicKeys);
    }
  }

  private record(tenantId: string, details: Record<string, unknown>): void {
    this.deps.securityEvents.record({ type: 'audit.verification.failed', outcome: 'failure', tenantId, actor: { type: 'system', id: 'monitor' }, details });
  }
}

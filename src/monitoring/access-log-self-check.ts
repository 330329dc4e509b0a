import { performance } from 'node:perf_hooks';
import { verifyAccessLog } from '../audit/verify-access-log.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/** A pass over every tenant starts at most this often. */
const CYCLE_SECONDS = 3600;
/**
 * Time one monitor run may spend verifying chains. A tenant's chain takes as long as it is long,
 * so a count of tenants per run bounds nothing; a time budget keeps each run (and the rule
 * evaluation after it, on the same minute's tick) short whatever the tenants hold.
 */
export const SELF_CHECK_BUDGET_MS = 5_000;
/** Tenant ids read per query while a run's budget lasts. */
const TENANTS_PER_PAGE = 100;

export interface AccessLogSelfCheckOptions {
  /** [SELF_CHECK_BUDGET_MS] */
  budgetMs?: number;
  /** A monotonic clock in milliseconds [performance.now]: the budget is real time, not the injectable clock's. */
  stopwatch?: () => number;
}

/**
 * The periodic self-verification of every tenant's access-log chain (the check behind
 * `confide audit verify`), round-robin by tenant id: each monitor run verifies tenants until its
 * time budget is spent (always at least one, so a pass always moves on), and the next run resumes
 * after the last tenant verified. A pass over all tenants therefore ends within as many runs as
 * there are tenants (in practice total verification time / budget), and a new pass starts at most
 * hourly. One tenant's chain is never cut short: a run can overrun its budget by that tenant.
 * Each chain is held against its tenant's latest signed checkpoint too, as `confide audit verify`
 * does, so a cut tail whose head was rewritten to match is caught here as well.
 * A chain that fails is recorded as `audit.verification.failed`, which the
 * `access-log-verification-failed` rule alerts on. The position in the pass is this node's: if the
 * lease moves to another node, that node starts a pass of its own.
 */
export class AccessLogSelfCheck {
  /** The last tenant verified in the pass under way; null between passes. */
  private after: string | null = null;
  private passStartedAt: number | null = null;
  private readonly budgetMs: number;
  private readonly stopwatch: () => number;

  constructor(
    private readonly deps: Pick<MonitoringDeps, 'db' | 'keyRing' | 'securityEvents' | 'checkpoints' | 'signingKeys'>,
    options: AccessLogSelfCheckOptions = {},
  ) {
    this.budgetMs = options.budgetMs ?? SELF_CHECK_BUDGET_MS;
    this.stopwatch = options.stopwatch ?? (() => performance.now());
  }

  /** Verifies the next tenants when a pass is due or under way, within the budget; returns how many chains failed. */
  async runOnce(now: Date): Promise<{ verified: number; failed: number; passDone: boolean }> {
    if (this.after === null) {
      if (this.passStartedAt !== null && now.getTime() - this.passStartedAt < CYCLE_SECONDS * 1000) return { verified: 0, failed: 0, passDone: false };
      this.passStartedAt = now.getTime();
      this.after = '';
    }
    const started = this.stopwatch();
    const publicKeys = await this.deps.signingKeys.authenticPublicKeys();
    let verified = 0;
    let failed = 0;
    for (;;) {
      const tenants = await this.deps.db.selectFrom('tenants').select('id').where('id', '>', this.after).orderBy('id').limit(TENANTS_PER_PAGE).execute();
      for (const { id } of tenants) {
        if (!(await this.verify(id, publicKeys))) failed += 1;
        verified += 1;
        this.after = id;
        if (this.stopwatch() - started >= this.budgetMs) return { verified, failed, passDone: false };
      }
      if (tenants.length < TENANTS_PER_PAGE) break;
    }
    this.after = null;
    return { verified, failed, passDone: true };
  }

  /**
   * One tenant's chain; a failure is recorded as a security event. A check that cannot run (the
   * tenant's key cannot be opened, a row cannot be read) is a failure too, recorded with the kind
   * `check-failed`, and the pass moves on: one tenant must not stop every later one being checked.
   */
  private async verify(tenantId: string, publicKeys: ReadonlyMap<string, Buffer>): Promise<boolean> {
    const { db, keyRing, securityEvents, checkpoints } = this.deps;
    let report: Awaited<ReturnType<typeof verifyAccessLog>>;
    try {
      const cipher = await keyRing.cipherFor(tenantId);
      const checkpoint = await checkpoints.latest(tenantId);
      report = await verifyAccessLog(db, tenantId, cipher, { checkpoint, publicKeys });
      // A checkpoint signed by a key made since this run read the keys (a signing-key rotation) is no tampering: read them again once.
      if (report.problems.some((problem) => problem.kind === 'checkpoint_invalid')) {
        report = await verifyAccessLog(db, tenantId, cipher, { checkpoint, publicKeys: await this.deps.signingKeys.authenticPublicKeys() });
      }
    } catch {
      securityEvents.record({ type: 'audit.verification.failed', outcome: 'failure', tenantId, actor: { type: 'system', id: 'monitor' }, details: { problems: ['check-failed'] } });
      return false;
    }
    if (report.ok) return true;
    securityEvents.record({
      type: 'audit.verification.failed',
      outcome: 'failure',
      tenantId,
      actor: { type: 'system', id: 'monitor' },
      details: { entries: report.entries, firstBadSeq: report.firstBadSeq, problems: report.problems.slice(0, 5).map((problem) => problem.kind) },
    });
    return false;
  }
}

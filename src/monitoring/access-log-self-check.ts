import { verifyAccessLog } from '../audit/verify-access-log.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/** A pass over every tenant starts at most this often. */
const CYCLE_SECONDS = 3600;
/** Tenants verified per monitor run, so one run stays short whatever the number of tenants. */
const TENANTS_PER_RUN = 20;

/**
 * The periodic self-verification of every tenant's access-log chain (the check behind
 * `confide audit verify`): at most TENANTS_PER_RUN tenants per monitor run, a whole pass at most
 * hourly. A chain that fails is recorded as `audit.verification.failed`, which the
 * `access-log-verification-failed` rule alerts on. The position in the pass is this node's: if the
 * lease moves to another node, that node starts a pass of its own.
 */
export class AccessLogSelfCheck {
  /** The last tenant verified in the pass under way; null between passes. */
  private after: string | null = null;
  private passStartedAt: number | null = null;

  constructor(
    private readonly deps: Pick<MonitoringDeps, 'db' | 'keyRing' | 'securityEvents'>,
    private readonly tenantsPerRun = TENANTS_PER_RUN,
  ) {}

  /** Verifies the next tenants when a pass is due or under way; returns how many chains failed. */
  async runOnce(now: Date): Promise<number> {
    if (this.after === null) {
      if (this.passStartedAt !== null && now.getTime() - this.passStartedAt < CYCLE_SECONDS * 1000) return 0;
      this.passStartedAt = now.getTime();
      this.after = '';
    }
    const { db, keyRing, securityEvents } = this.deps;
    const tenants = await db.selectFrom('tenants').select('id').where('id', '>', this.after).orderBy('id').limit(this.tenantsPerRun).execute();
    let failed = 0;
    for (const { id } of tenants) {
      const report = await verifyAccessLog(db, id, await keyRing.cipherFor(id));
      if (report.ok) continue;
      failed += 1;
      securityEvents.record({
        type: 'audit.verification.failed',
        outcome: 'failure',
        tenantId: id,
        actor: { type: 'system', id: 'monitor' },
        details: { entries: report.entries, firstBadSeq: report.firstBadSeq, problems: report.problems.slice(0, 5).map((problem) => problem.kind) },
      });
    }
    this.after = tenants.length < this.tenantsPerRun ? null : tenants[tenants.length - 1]!.id;
    return failed;
  }
}

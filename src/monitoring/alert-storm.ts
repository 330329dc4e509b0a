import { alertSubjectIndex, evidenceCutoff, lastResolvedAlert, type AlertView } from './alert-store.js';
import type { Finding, MonitorRule } from './monitor-rule.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/**
 * At most this many new alerts of one rule in STORM_WINDOW_SECONDS. A spread-out attack (password
 * spraying over thousands of accounts, addresses rotating over many /64s) would otherwise open, and
 * e-mail and post, one alert per subject: the on-call engineer needs a handful of examples and one
 * word that it is a storm, not a thousand messages.
 */
export const STORM_CAP = 5;
export const STORM_WINDOW_SECONDS = 60 * 60;
/** The subject of the one alert a rule's storm is folded into (no rule names a subject so). */
export const STORM_SUBJECT = 'many subjects';
/** How many of the folded subjects the storm alert's details name: bounded, whatever the storm's size. */
export const STORM_SAMPLE_SIZE = 20;

/** The worst first (the rule's own count, when it has one), then by subject: the same order on every node and run. */
function worstFirst(a: Finding, b: Finding): number {
  const count = (finding: Finding) => Number(finding.details.count ?? 0);
  return count(b) - count(a) || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0);
}

/**
 * One rule's view of its alerts for one evaluation, to fold a storm: which subjects have an alert
 * not resolved (refreshing one is never capped), how many new alerts the cap still allows, whether
 * a storm alert is open (it absorbs every new subject while it is), and the last storm a
 * security-admin resolved by hand (its evidence never raises a new one).
 */
export class AlertStorm {
  private constructor(
    private readonly deps: MonitoringDeps,
    private readonly rule: string,
    private readonly indexKey: Buffer,
    /** Subject indexes of the rule's alerts not resolved, the storm alert's included. */
    private readonly open: ReadonlySet<string>,
    /** New alerts the cap still allows this window. */
    private budget: number,
    private readonly stormResolvedByHand: AlertView | null,
  ) {}

  static async load(deps: MonitoringDeps, rule: string, now: Date): Promise<AlertStorm> {
    const indexKey = await deps.keyRing.blindIndexKey();
    const stormIndex = alertSubjectIndex(indexKey, STORM_SUBJECT);
    const open = await deps.db.selectFrom('alerts').select('subject_index').where('rule', '=', rule).where('state', '<>', 'resolved').execute();
    // Opened in the window in any state: resolving alerts by hand does not make room for more.
    const recent = await deps.db
      .selectFrom('alerts')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('rule', '=', rule)
      .where('subject_index', '<>', stormIndex)
      .where('opened_at', '>=', new Date(now.getTime() - STORM_WINDOW_SECONDS * 1000).toISOString())
      .executeTakeFirstOrThrow();
    const storm = await lastResolvedAlert(deps, rule, STORM_SUBJECT);
    const byHand = storm && storm.resolvedBy !== 'system' ? storm : null;
    return new AlertStorm(deps, rule, indexKey, new Set(open.map((row) => row.subject_index)), STORM_CAP - Number(recent.n), byHand);
  }

  /**
   * The rule's `lastResolved` (RuleContext): the subject's own last resolved alert or, for a subject
   * without an alert open, a storm resolved by hand after it. The storm's subjects are not listed
   * anywhere in full, so a security-admin resolving the storm closes every subject it may have held:
   * only events after that resolution count for them, and the same evidence never opens a new storm.
   * (When the monitor resolved the storm itself, its condition had cleared: nothing is held back.)
   */
  async lastResolved(subject: string): Promise<AlertView | null> {
    const own = await lastResolvedAlert(this.deps, this.rule, subject);
    const storm = this.stormResolvedByHand;
    if (!storm || this.open.has(alertSubjectIndex(this.indexKey, subject))) return own;
    return own && evidenceCutoff(own) >= evidenceCutoff(storm) ? own : storm;
  }

  /**
   * The findings to raise: every subject with an alert open (refreshed), new subjects while the cap
   * allows (the worst first), and the rest folded into one finding for STORM_SUBJECT. While a storm
   * alert is open, every new subject folds into it.
   */
  fold(rule: MonitorRule, findings: readonly Finding[]): Finding[] {
    const stormOpen = this.open.has(alertSubjectIndex(this.indexKey, STORM_SUBJECT));
    const raise: Finding[] = [];
    const folded: Finding[] = [];
    for (const finding of [...findings].sort(worstFirst)) {
      if (this.open.has(alertSubjectIndex(this.indexKey, finding.subject))) raise.push(finding);
      else if (!stormOpen && this.budget > 0) {
        this.budget -= 1;
        raise.push(finding);
      } else folded.push(finding);
    }
    if (folded.length > 0) raise.push(stormFinding(rule, folded, raise.length));
    return raise;
  }
}

/** The storm alert: how many subjects it holds now, and a bounded sample of them, the worst first. */
function stormFinding(rule: MonitorRule, folded: readonly Finding[], ownAlerts: number): Finding {
  const total = folded.length + ownAlerts;
  const sample = folded.slice(0, STORM_SAMPLE_SIZE).map((finding) => ({ subject: finding.subject, ...('count' in finding.details ? { count: finding.details.count } : {}) }));
  return {
    subject: STORM_SUBJECT,
    summary:
      `Storm: ${rule.name} holds for ${total} subjects at once. ${ownAlerts} have their own alert; ${folded.length} more are folded into this one ` +
      `(at most ${STORM_CAP} new alerts per rule an hour). The first ${sample.length} are listed in its details on the admin listener.`,
    details: {
      subjects: folded.length,
      totalSubjects: total,
      ownAlerts,
      sample,
      cap: STORM_CAP,
      capWindowMinutes: STORM_WINDOW_SECONDS / 60,
      threshold: rule.threshold,
      windowMinutes: rule.windowSeconds / 60,
    },
  };
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { evidenceCutoff } from './alert-store.js';
import type { Finding, MonitorRule, RuleContext } from './monitor-rule.js';

/** The system_meta key the backup scheduler sets the first time it runs: staleness counts from then until a first backup is verified. */
export const BACKUP_SCHEDULE_SINCE = 'backup.scheduleSince';

/** The events that say how the latest backup went: a failure is a run that failed or a backup that failed verification. */
const FAILURES = ['backup.failed', 'backup.verificationFailed'] as const;
const OUTCOMES = [...FAILURES, 'backup.verified'] as const;

const SUBJECT = 'backups';

async function latestAt(db: Kysely<DB>, types: readonly string[]): Promise<{ at: string; type: string } | null> {
  const row = await db
    .selectFrom('security_events')
    .select(['at', 'type'])
    .where('type', 'in', [...types])
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

async function failuresSince(db: Kysely<DB>, after: string | null): Promise<number> {
  let query = db.selectFrom('security_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', 'in', [...FAILURES]);
  if (after) query = query.where('at', '>', after);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/**
 * `backup-failed`: the latest backup outcome is a failure — a scheduled or manual run that could
 * not write its archive (target unwritable, S3 down, disk full), or a backup that failed
 * verification. A state, not a count: however many runs fail in a row it is one alert, refreshed
 * by each, which the monitor resolves by itself once a later backup is verified (ALERT_CLEAR_SECONDS
 * after). One resolved by hand stays resolved until a failure after it.
 */
export const backupFailed: MonitorRule = {
  name: 'backup-failed',
  severity: 'high',
  threshold: 1,
  windowSeconds: 86_400,
  async evaluate({ db, lastResolved }: RuleContext): Promise<Finding[]> {
    const latest = await latestAt(db, OUTCOMES);
    if (!latest || latest.type === 'backup.verified') return [];
    const resolved = await lastResolved(SUBJECT);
    if (resolved && latest.at <= evidenceCutoff(resolved)) return [];
    const lastVerified = await latestAt(db, ['backup.verified']);
    const failures = await failuresSince(db, lastVerified?.at ?? null);
    const what = latest.type === 'backup.failed' ? 'could not be made' : 'failed verification';
    const since = lastVerified ? `the last verified backup is from ${lastVerified.at}` : 'no backup has been verified yet';
    return [
      {
        subject: SUBJECT,
        summary: `The latest backup ${what} (${latest.at}); ${failures} failed run(s) since the last verified backup; ${since}. See confide backup list and the backup.* security events.`,
        details: { lastFailureAt: latest.at, lastFailure: latest.type, failures, lastVerifiedAt: lastVerified?.at ?? null },
      },
    ];
  },
};

/**
 * `backup-stale`: with a schedule (CONFIDE_BACKUP_TARGET and CONFIDE_BACKUP_INTERVAL), no backup
 * has been verified for two intervals — counted from the schedule's first run when there never was
 * one. This catches a schedule that stopped (no node runs it, a run hangs); while the latest run
 * failed, `backup-failed` already says so and this rule stays quiet, so a failing target is one
 * alert, not two.
 */
export const backupStale: MonitorRule = {
  name: 'backup-stale',
  severity: 'high',
  threshold: 1,
  windowSeconds: 86_400,
  async evaluate({ db, now, backupIntervalSeconds, lastResolved }: RuleContext): Promise<Finding[]> {
    if (backupIntervalSeconds === null) return [];
    const latest = await latestAt(db, OUTCOMES);
    if (latest && latest.type !== 'backup.verified') return [];
    const since = await db.selectFrom('system_meta').select('value').where('key', '=', BACKUP_SCHEDULE_SINCE).executeTakeFirst();
    const reference = latest?.at ?? since?.value;
    if (!reference) return []; // the schedule has never run: nothing is late yet
    const ageSeconds = (now.getTime() - Date.parse(reference)) / 1000;
    if (ageSeconds <= 2 * backupIntervalSeconds) return [];
    const resolved = await lastResolved(SUBJECT);
    if (resolved && resolved.resolvedBy !== 'system' && resolved.details?.reference === reference) return [];
    const hours = Math.floor(ageSeconds / 3600);
    const what = latest ? `The newest verified backup is from ${reference}` : `No backup has been verified since the schedule began at ${reference}`;
    return [
      {
        subject: SUBJECT,
        summary: `${what}, ${hours} h ago: more than two backup intervals (CONFIDE_BACKUP_INTERVAL ${backupIntervalSeconds} s). Is a node running the schedule?`,
        details: { reference, ageSeconds: Math.floor(ageSeconds), intervalSeconds: backupIntervalSeconds },
      },
    ];
  },
};

import { sql } from 'kysely';
import { ageInDays, olderThan } from '../key-rotation/key-due.js';
import type { Finding, MonitorRule } from './monitor-rule.js';

const DAY_SECONDS = 86_400;

/**
 * `key-max-age`: an owner's active data key version (the system's, or a tenant's) has sealed for
 * longer than CONFIDE_KEY_MAX_AGE_DAYS. One finding per owner, subject `key <owner>`: for a tenant
 * its id, never its name (the name is sealed under the very key in question). Not an event count:
 * the condition is read from the key ring at each run, so the monitor resolves the alert by itself
 * once a rotation has made a new version active (ALERT_CLEAR_SECONDS after it is last seen). An
 * alert a security-admin resolved by hand stays resolved while the same version is active: the
 * operator has accepted that key; a rotation, and that version in turn growing old, raises it again.
 */
export const keyMaxAge: MonitorRule = {
  name: 'key-max-age',
  severity: 'medium',
  threshold: 1,
  windowSeconds: DAY_SECONDS,
  async evaluate({ db, now, keyMaxAgeDays, lastResolved }) {
    if (keyMaxAgeDays === null) return [];
    const cutoff = new Date(now.getTime() - keyMaxAgeDays * DAY_SECONDS * 1000).toISOString();
    // Since it began to seal: a version made ahead (`next`) does not age before it is used.
    const since = sql<string>`coalesce(activated_at, created_at)`;
    const rows = await db
      .selectFrom('key_ring')
      .select(['owner', 'version', since.as('since')])
      .where('purpose', '=', 'data')
      .where('state', '=', 'active')
      .where(since, '<', cutoff)
      .orderBy('owner')
      .execute();
    const findings: Finding[] = [];
    for (const row of rows) {
      if (!olderThan(row.since, keyMaxAgeDays, now)) continue; // the query's cutoff is a bound; the age counts whole days
      const version = Number(row.version);
      const subject = `key ${row.owner}`;
      const resolved = await lastResolved(subject);
      if (resolved && resolved.resolvedBy !== 'system' && resolved.details?.version === version) continue;
      const ageDays = ageInDays(row.since, now);
      findings.push({
        subject,
        summary: `The data key of ${row.owner} (version ${version}) has sealed new values for ${ageDays} days, more than the maximum of ${keyMaxAgeDays} (CONFIDE_KEY_MAX_AGE_DAYS): rotate it.`,
        details: { owner: row.owner, version, since: row.since, ageDays, maxAgeDays: keyMaxAgeDays },
      });
    }
    return findings;
  },
};

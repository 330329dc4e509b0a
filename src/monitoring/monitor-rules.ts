import type { Finding, MonitorRule } from './monitor-rule.js';
import { eventCountRule } from './monitor-rule.js';
import { liveCertificates, shortFingerprint } from './node-certificates.js';
import { keyMaxAge } from './key-age-rule.js';
import { backupFailed, backupStale } from './backup-rules.js';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

/** Alerts before the TLS certificate expires: renewal (ACME, or the operator) normally happens 30 days before. */
export const CERTIFICATE_WARNING_DAYS = 21;
/** A certificate-expiring alert resolved by hand is raised again once the certificate is this close to expiry, and once it expired. */
export const CERTIFICATE_URGENT_DAYS = 7;

/** How close to expiry: 0 not yet a concern, 1 within the warning, 2 within the urgent threshold, 3 expired. */
function certificateStage(daysLeft: number): number {
  if (daysLeft <= 0) return 3;
  if (daysLeft <= CERTIFICATE_URGENT_DAYS) return 2;
  return daysLeft <= CERTIFICATE_WARNING_DAYS ? 1 : 0;
}

/**
 * A TLS certificate some live node serves (node-certificates.ts: each node records its own) expires
 * within CERTIFICATE_WARNING_DAYS: one alert per distinct certificate, its subject the fingerprint's
 * short form, whichever node holds the lease. Not an event count, so it has no events to count after
 * a resolution: an alert resolved by hand stays resolved while the condition is the one it was
 * resolved in: the same certificate, no closer to expiry than it then was (the stages 21 days,
 * CERTIFICATE_URGENT_DAYS, expired). An alert the monitor resolved itself (the condition had
 * cleared: the certificate was renewed, or its node left) does not hold a returning condition back.
 */
const certificateExpiring: MonitorRule = {
  name: 'certificate-expiring',
  severity: 'high',
  threshold: 1,
  windowSeconds: CERTIFICATE_WARNING_DAYS * DAY,
  async evaluate({ db, now, lastResolved }) {
    const findings: Finding[] = [];
    for (const { fingerprint, expiresAt: expiry, nodes } of await liveCertificates(db, now)) {
      const daysLeftAt = (at: number) => (expiry.getTime() - at) / (DAY * 1000);
      const days = daysLeftAt(now.getTime());
      if (days > CERTIFICATE_WARNING_DAYS) continue;
      const short = shortFingerprint(fingerprint);
      const subject = `tls certificate ${short}`;
      const expiresAt = expiry.toISOString();
      const resolved = await lastResolved(subject);
      if (resolved?.resolvedAt && resolved.resolvedBy !== 'system' && resolved.details?.fingerprint === fingerprint) {
        if (certificateStage(days) <= certificateStage(daysLeftAt(Date.parse(resolved.resolvedAt)))) continue;
      }
      const which = `The TLS certificate ${short} (served by ${nodes.length === 1 ? `node ${nodes[0]}` : `${nodes.length} nodes`})`;
      const summary = days <= 0 ? `${which} expired at ${expiresAt}.` : `${which} expires in ${Math.floor(days)} days (${expiresAt}).`;
      findings.push({ subject, summary, details: { expiresAt, daysLeft: Math.floor(days), fingerprint, nodes } });
    }
    return findings;
  },
};

/**
 * Every rule the monitor evaluates, in one list; docs/monitoring.md has a row for each (a test
 * keeps the two in step). Thresholds sit above what normal use produces: a person mistyping a
 * password a few times, an office of users behind one address, a staff member working a ticket.
 */
export const MONITOR_RULES: readonly MonitorRule[] = [
  eventCountRule({
    name: 'brute-force-account',
    severity: 'high',
    threshold: 10,
    windowSeconds: 15 * MINUTE,
    types: ['signin.password', 'staff.signin.password'],
    outcomes: ['failure'],
    per: 'account',
    count: 'distinctAt',
    describe: (n, subject) => `${n} failed password sign-ins for account ${subject} in 15 minutes.`,
  }),
  eventCountRule({
    name: 'credential-stuffing',
    severity: 'critical',
    threshold: 20,
    windowSeconds: 10 * MINUTE,
    types: ['signin.password', 'staff.signin.password'],
    outcomes: ['failure'],
    per: 'source',
    count: 'distinctAccounts',
    describe: (n, subject) => `Failed password sign-ins for ${n} different e-mail addresses from ${subject} in 10 minutes.`,
  }),
  eventCountRule({
    name: 'mfa-failures',
    severity: 'high',
    threshold: 5,
    windowSeconds: 15 * MINUTE,
    types: ['signin.mfa', 'staff.signin.mfa', 'mfa.totp.replay'],
    outcomes: ['failure', 'refused'],
    per: 'account',
    count: 'distinctAt',
    describe: (n, subject) => `${n} failed or replayed second-factor codes for account ${subject} in 15 minutes.`,
  }),
  eventCountRule({
    name: 'staff-grant-refused',
    severity: 'medium',
    threshold: 1,
    windowSeconds: HOUR,
    types: ['staff.grant.refused'],
    per: 'staff',
    count: 'events',
    describe: (n, subject) => `${subject} was refused tenant data for lack of a grant ${n} time(s) in the last hour.`,
  }),
  eventCountRule({
    name: 'staff-bulk-reading',
    severity: 'high',
    threshold: 200,
    windowSeconds: HOUR,
    types: ['staff.grant.used'],
    per: 'staff',
    // Records, not requests: one list page of 1,000 is 1,000 reads (metadata pages count 0).
    count: 'records',
    describe: (n, subject) => `${subject} read or changed ${n} tenant records under grants in the last hour.`,
  }),
  eventCountRule({
    name: 'break-glass-used',
    severity: 'critical',
    threshold: 1,
    windowSeconds: DAY,
    types: ['staff.access.approved'],
    actorType: 'staff',
    per: 'tenant',
    count: 'events',
    describe: (n, subject) => `Break-glass access to ${subject} was activated (${n} in the last 24 hours).`,
  }),
  eventCountRule({
    name: 'access-log-unavailable',
    severity: 'critical',
    threshold: 1,
    windowSeconds: 15 * MINUTE,
    types: ['audit.unavailable'],
    per: 'global',
    globalSubject: 'access log',
    count: 'events',
    describe: (n) => `${n} request(s) answered 503 AUDIT_UNAVAILABLE in 15 minutes: the access log cannot be written.`,
  }),
  eventCountRule({
    name: 'storage-unavailable',
    severity: 'critical',
    threshold: 1,
    windowSeconds: 15 * MINUTE,
    types: ['storage.unavailable'],
    per: 'global',
    globalSubject: 'storage',
    count: 'events',
    describe: (n) => `${n} write(s) refused in 15 minutes: a store (the database, the file store or the backup target) is full or failing.`,
  }),
  eventCountRule({
    name: 'access-log-verification-failed',
    severity: 'critical',
    threshold: 1,
    windowSeconds: 2 * HOUR,
    types: ['audit.verification.failed'],
    per: 'tenant',
    count: 'events',
    describe: (_n, subject) => `The access-log chain of ${subject} failed verification.`,
  }),
  certificateExpiring,
  keyMaxAge,
  backupFailed,
  backupStale,
  eventCountRule({
    name: 'sustained-rate-limiting',
    severity: 'medium',
    threshold: 10,
    windowSeconds: 15 * MINUTE,
    types: ['request.rateLimited'],
    per: 'source',
    count: 'distinctMinutes',
    describe: (n, subject) => `${subject} was rate limited in ${n} of the last 15 minutes.`,
  }),
];

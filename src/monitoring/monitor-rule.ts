import { sql, type Kysely } from 'kysely';
import type { AlertSeverity } from '../db/monitoring-schema.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { clientSource } from '../lib/client-source.js';
import { evidenceCutoff, type AlertView } from './alert-store.js';

/** What one evaluation sees: the shared database (events, and each node's certificate) and the time. */
export interface RuleContext {
  db: Kysely<DB>;
  now: Date;
  /** The system cipher, to name a source in an alert (one address per alert, never in bulk). */
  systemCipher: Cipher;
  /** CONFIDE_KEY_MAX_AGE_DAYS (null: off), for the key-max-age rule. */
  keyMaxAgeDays: number | null;
  /** Seconds between scheduled backups, or null when there is no schedule (no target, or CONFIDE_BACKUP_INTERVAL=off): the backup-stale rule. */
  backupIntervalSeconds: number | null;
  /**
   * The most recently resolved alert of this rule for `subject`, or null. One alert per incident: a
   * rule never raises again from what that alert was resolved over (`evidenceCutoff`), only from
   * evidence that arrived after it.
   */
  lastResolved: (subject: string) => Promise<AlertView | null>;
}

/** The condition holds for `subject` now: the monitor raises (or refreshes) the alert for (rule, subject). */
export interface Finding {
  /** What it is about, as people read it: `member:<id>`, `staff:<id>`, an address or /64, `tenant:<id>`. */
  subject: string;
  summary: string;
  details: Record<string, unknown>;
}

/**
 * One monitoring rule: a small object in the one list (monitor-rules.ts), documented in
 * docs/monitoring.md. A later rule (backup stale, key too old) is one more entry.
 */
export interface MonitorRule {
  name: string;
  severity: AlertSeverity;
  /** How many occurrences in `windowSeconds` make the condition true (1: any). */
  threshold: number;
  windowSeconds: number;
  evaluate(context: RuleContext): Promise<Finding[]>;
}

/** Who a count is per: an account (member or staff), a staff member, a source (IPv4 or IPv6 /64), a tenant, or everything. */
type SubjectKind = 'account' | 'staff' | 'source' | 'tenant' | 'global';

/**
 * How occurrences are counted. `distinctAt`: an event about a user and no tenant is stored once
 * per tenant of the user, with one timestamp, so copies count once. `distinctAccounts`: addresses
 * tried (`target_index`, known account or not), so one address mistyped over and over counts once;
 * an event from before migration 0009 has none and counts per actor, or once each without one.
 * `distinctMinutes`: minutes with at least one event (a source limited for N minutes).
 * `records`: customer records the events returned or changed (their `records` column; an event without one counts as one).
 */
type Count = 'events' | 'distinctAt' | 'distinctAccounts' | 'distinctMinutes' | 'records';

export interface EventCountSpec {
  name: string;
  severity: AlertSeverity;
  threshold: number;
  windowSeconds: number;
  types: readonly string[];
  outcomes?: readonly string[];
  /** Only events whose actor is of this type (staff for break-glass activations). */
  actorType?: string;
  per: SubjectKind;
  /** The subject of a `global` rule's one alert. */
  globalSubject?: string;
  count: Count;
  describe(count: number, subject: string): string;
}

const COUNTS: Record<Count, ReturnType<typeof sql<number>>> = {
  events: sql<number>`count(*)`,
  distinctAt: sql<number>`count(distinct at)`,
  distinctAccounts: sql<number>`count(distinct coalesce(target_index, actor_id, id))`,
  distinctMinutes: sql<number>`count(distinct substr(at, 1, 16))`,
  records: sql<number>`coalesce(sum(coalesce(records, 1)), 0)`,
};

type KeyColumn = 'actor_type' | 'actor_id' | 'source_index' | 'tenant_id';

const KEY_COLUMNS: Record<SubjectKind, readonly KeyColumn[]> = {
  account: ['actor_type', 'actor_id'],
  staff: ['actor_id'],
  source: ['source_index'],
  tenant: ['tenant_id'],
  global: [],
};

/**
 * A rule that counts security events of some types in a sliding window, grouped per subject, over
 * the indexed columns only (type, at, actor, source_index, tenant_id): nothing is decrypted to
 * count. The one exception is naming a source in its alert, one address per finding. Once an alert
 * of the rule for a subject is resolved, only events after its evidence (`evidenceCutoff`) count for
 * that subject: resolving an incident by hand does not re-open it from the events already seen.
 */
export function eventCountRule(spec: EventCountSpec): MonitorRule {
  const keys = KEY_COLUMNS[spec.per];
  /** Per subject, the occurrences of events at or after `since`, and strictly after `after` when given. */
  const counts = (db: Kysely<DB>, since: string, after?: string, subjectKey?: Partial<Record<KeyColumn, string | null>>) => {
    let query = db
      .selectFrom('security_events')
      .select([...keys, COUNTS[spec.count].as('occurrences'), sql<string>`max(id)`.as('sample')])
      .where('type', 'in', [...spec.types])
      .where('at', '>=', since);
    if (after) query = query.where('at', '>', after);
    if (spec.outcomes) query = query.where('outcome', 'in', [...spec.outcomes]);
    if (spec.per === 'staff' || spec.actorType) query = query.where('actor_type', '=', spec.actorType ?? 'staff');
    for (const key of keys) query = subjectKey ? query.where(key, '=', subjectKey[key] ?? '') : query.where(key, 'is not', null);
    if (keys.length > 0) query = query.groupBy([...keys]);
    return query.having(COUNTS[spec.count], '>=', spec.threshold).execute();
  };
  return {
    name: spec.name,
    severity: spec.severity,
    threshold: spec.threshold,
    windowSeconds: spec.windowSeconds,
    async evaluate({ db, now, systemCipher, lastResolved }) {
      const since = new Date(now.getTime() - spec.windowSeconds * 1000).toISOString();
      const findings: Finding[] = [];
      for (const row of await counts(db, since)) {
        let count = Number(row.occurrences);
        if (count < spec.threshold) continue; // an aggregate over no rows (global) is one row of 0
        const subject = await subjectOf(db, systemCipher, spec, row);
        // An alert for this subject was resolved: count only what happened after its evidence.
        const resolved = await lastResolved(subject);
        const cutoff = resolved ? evidenceCutoff(resolved) : undefined;
        if (cutoff && cutoff >= since) {
          const [fresh] = await counts(db, since, cutoff, row);
          count = Number(fresh?.occurrences ?? 0);
          if (count < spec.threshold) continue;
        }
        findings.push({ subject, summary: spec.describe(count, subject), details: { count, windowMinutes: spec.windowSeconds / 60, threshold: spec.threshold } });
      }
      return findings;
    },
  };
}

async function subjectOf(db: Kysely<DB>, cipher: Cipher, { per, globalSubject }: EventCountSpec, row: { actor_type?: string | null; actor_id?: string | null; tenant_id?: string | null; sample: string }): Promise<string> {
  if (per === 'account') return `${row.actor_type}:${row.actor_id}`;
  if (per === 'staff') return `staff:${row.actor_id}`;
  if (per === 'tenant') return `tenant:${row.tenant_id}`;
  if (per === 'global') return globalSubject ?? 'all';
  // The source as people read it: the latest event's address, reduced as the index was (IPv6 to its /64).
  const sample = await db.selectFrom('security_events').select(['id', 'ip_enc']).where('id', '=', row.sample).executeTakeFirst();
  if (!sample?.ip_enc) return 'unknown source';
  return clientSource(cipher.decrypt(sample.ip_enc, ENCRYPTED_FIELDS.securityEventsIp.location(sample)));
}

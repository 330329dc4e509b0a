import { sql, type Kysely, type Selectable } from 'kysely';
import type { AlertsTable, AlertSeverity, AlertState } from '../db/monitoring-schema.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { blindIndex } from '../keys/blind-index.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import type { AlertNotice, AlertTransition } from './alert-notifier.js';
import type { MonitoringDeps } from './monitoring-deps.js';

/** An alert as the admin API and the notifier show it. */
export interface AlertView {
  id: string;
  rule: string;
  severity: AlertSeverity;
  state: AlertState;
  subject: string;
  summary: string;
  openedAt: string;
  lastSeenAt: string;
  occurrences: number;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  resolvedAt?: string;
  resolvedBy?: string;
  details?: Record<string, unknown>;
}

/** What a rule found, for one subject: raised as an alert, or counted on the one already open. */
export interface AlertFinding {
  rule: string;
  severity: AlertSeverity;
  subject: string;
  summary: string;
  details: Record<string, unknown>;
}

/** The de-duplication key: the subject itself (an account id, an address) rests sealed in subject_enc. */
export function alertSubjectIndex(indexKey: Buffer, subject: string): string {
  return blindIndex(indexKey, 'alert-subject', subject);
}

/**
 * Raises the alert for (rule, subject), or, while one is not resolved, counts one more occurrence
 * on it. The insert leans on the partial unique index `alerts_one_open`: of two nodes (or two
 * evaluations) racing, the database lets exactly one insert, and the other refreshes that alert.
 * `ON CONFLICT … DO NOTHING` rather than catching the violation, because a failed statement
 * would abort the whole transaction on PostgreSQL.
 */
export async function raiseAlert(deps: MonitoringDeps, finding: AlertFinding, now: Date): Promise<{ alert: AlertView; opened: boolean }> {
  const cipher = deps.keyRing.systemCipher();
  const subjectIndex = alertSubjectIndex(await deps.keyRing.blindIndexKey(), finding.subject);
  const at = now.toISOString();
  const sealDetails = (id: string) => cipher.encrypt(JSON.stringify({ summary: finding.summary, details: finding.details }), ENCRYPTED_FIELDS.alertsDetails.location({ id }));
  const result = await deps.transactions.run(async (trx) => {
    const id = newId();
    const inserted = await trx
      .insertInto('alerts')
      .values({
        id,
        rule: finding.rule,
        subject_index: subjectIndex,
        subject_enc: cipher.encrypt(finding.subject, ENCRYPTED_FIELDS.alertsSubject.location({ id })),
        severity: finding.severity,
        state: 'open',
        opened_at: at,
        last_seen_at: at,
        occurrences: 1,
        details_enc: sealDetails(id),
        acknowledged_at: null,
        acknowledged_by: null,
        resolved_at: null,
        resolved_by: null,
      })
      .onConflict((conflict) => conflict.columns(['rule', 'subject_index']).where(sql<boolean>`state <> 'resolved'`).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) {
      const alert = viewOf(cipher, await loadRow(trx, id));
      await deps.alertNotifier.notify(trx, noticeOf(alert, 'opened'));
      return { alert, opened: true };
    }
    const open = await trx
      .selectFrom('alerts')
      .select('id')
      .where('rule', '=', finding.rule)
      .where('subject_index', '=', subjectIndex)
      .where('state', '<>', 'resolved')
      .executeTakeFirstOrThrow();
    await trx
      .updateTable('alerts')
      .set((eb) => ({ last_seen_at: at, occurrences: eb('occurrences', '+', 1), details_enc: sealDetails(open.id) }))
      .where('id', '=', open.id)
      .execute();
    return { alert: viewOf(cipher, await loadRow(trx, open.id)), opened: false };
  });
  if (result.opened) recordTransition(deps, result.alert, 'opened', { type: 'system', id: 'monitor' });
  return result;
}

/** Who changes an alert's state: a staff member, or the system (the monitor, when the condition cleared). */
export type AlertActor = { type: 'staff' | 'system'; id: string };

const FROM: Record<Exclude<AlertTransition, 'opened'>, AlertState[]> = { acknowledged: ['open'], resolved: ['open', 'acknowledged'] };

/**
 * Moves an alert to `acknowledged` or `resolved`, in one transaction with its notification; null
 * when the alert does not exist, `{ conflict }` when it is not in a state it can leave that way.
 */
export async function transitionAlert(
  deps: MonitoringDeps,
  id: string,
  to: Exclude<AlertTransition, 'opened'>,
  by: AlertActor,
  now: Date,
): Promise<AlertView | null | { conflict: AlertState }> {
  const cipher = deps.keyRing.systemCipher();
  const at = now.toISOString();
  const byName = by.type === 'system' ? 'system' : by.id;
  const outcome = await deps.transactions.run(async (trx) => {
    const change = to === 'acknowledged' ? { state: to, acknowledged_at: at, acknowledged_by: byName } : { state: to, resolved_at: at, resolved_by: byName };
    const updated = await trx.updateTable('alerts').set(change).where('id', '=', id).where('state', 'in', FROM[to]).executeTakeFirst();
    const row = await trx.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    if (Number(updated.numUpdatedRows) !== 1) return { conflict: row.state };
    const alert = viewOf(cipher, row);
    await deps.alertNotifier.notify(trx, noticeOf(alert, to));
    return alert;
  });
  if (outcome && !('conflict' in outcome)) recordTransition(deps, outcome, to, by);
  return outcome;
}

/** Alerts of `rule` not resolved whose condition was last seen before `clearedBefore`: due to resolve themselves. */
export async function staleAlertIds(db: Kysely<DB>, rule: string, clearedBefore: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('alerts')
    .select('id')
    .where('rule', '=', rule)
    .where('state', '<>', 'resolved')
    .where('last_seen_at', '<', clearedBefore.toISOString())
    .execute();
  return rows.map((row) => row.id);
}

/**
 * The most recently resolved alert of `rule` for `subject`, or null. A rule must not raise it again
 * from the evidence it was resolved over: see `evidenceCutoff`. (A scan of that rule's alerts for the
 * subject: `alerts_one_open` covers only the ones not resolved.)
 */
export async function lastResolvedAlert(deps: Pick<MonitoringDeps, 'db' | 'keyRing'>, rule: string, subject: string): Promise<AlertView | null> {
  const subjectIndex = alertSubjectIndex(await deps.keyRing.blindIndexKey(), subject);
  const row = await deps.db
    .selectFrom('alerts')
    .selectAll()
    .where('rule', '=', rule)
    .where('subject_index', '=', subjectIndex)
    .where('state', '=', 'resolved')
    .orderBy('resolved_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? viewOf(deps.keyRing.systemCipher(), row) : null;
}

/**
 * Until when the evidence of a resolved alert reaches: events at or before this instant belong to
 * the incident it closed and never raise it again; only events strictly after it count towards a
 * new one. Resolved by hand: everything up to the resolution (the condition may well still hold).
 * Resolved by the monitor: the condition had cleared, so everything up to its last sighting.
 */
export function evidenceCutoff(resolved: AlertView): string {
  return resolved.resolvedBy === 'system' ? resolved.lastSeenAt : (resolved.resolvedAt ?? resolved.lastSeenAt);
}

/** Alerts in `state`, newest first, a page at a time (`beforeId`: the last id of the previous page). */
export async function listAlerts(deps: Pick<MonitoringDeps, 'db' | 'keyRing'>, options: { state?: AlertState; limit: number; beforeId?: string }): Promise<{ items: AlertView[]; nextBeforeId: string | null }> {
  let query = deps.db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(options.limit + 1);
  if (options.state) query = query.where('state', '=', options.state);
  if (options.beforeId) query = query.where('id', '<', options.beforeId);
  const rows = await query.execute();
  const page = rows.slice(0, options.limit);
  const cipher = deps.keyRing.systemCipher();
  return { items: page.map((row) => viewOf(cipher, row)), nextBeforeId: rows.length > options.limit ? page[page.length - 1]!.id : null };
}

async function loadRow(trx: Kysely<DB>, id: string): Promise<Selectable<AlertsTable>> {
  return trx.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

function viewOf(cipher: Cipher, row: Selectable<AlertsTable>): AlertView {
  const sealed = row.details_enc ? (JSON.parse(cipher.decrypt(row.details_enc, ENCRYPTED_FIELDS.alertsDetails.location(row))) as { summary: string; details?: Record<string, unknown> }) : undefined;
  return {
    id: row.id,
    rule: row.rule,
    severity: row.severity,
    state: row.state,
    subject: cipher.decrypt(row.subject_enc, ENCRYPTED_FIELDS.alertsSubject.location(row)),
    summary: sealed?.summary ?? '',
    openedAt: row.opened_at,
    lastSeenAt: row.last_seen_at,
    occurrences: Number(row.occurrences),
    ...(row.acknowledged_at ? { acknowledgedAt: row.acknowledged_at, acknowledgedBy: row.acknowledged_by ?? '' } : {}),
    ...(row.resolved_at ? { resolvedAt: row.resolved_at, resolvedBy: row.resolved_by ?? '' } : {}),
    ...(sealed?.details ? { details: sealed.details } : {}),
  };
}

function noticeOf(alert: AlertView, transition: AlertTransition): AlertNotice {
  const by = transition === 'acknowledged' ? alert.acknowledgedBy : transition === 'resolved' ? alert.resolvedBy : undefined;
  return {
    id: alert.id,
    rule: alert.rule,
    severity: alert.severity,
    subject: alert.subject,
    state: alert.state,
    transition,
    openedAt: alert.openedAt,
    occurrences: alert.occurrences,
    summary: alert.summary,
    ...(alert.details ? { details: alert.details } : {}),
    ...(by ? { by } : {}),
  };
}

function recordTransition(deps: MonitoringDeps, alert: AlertView, transition: AlertTransition, actor: AlertActor): void {
  deps.securityEvents.record({
    type: `alert.${transition}`,
    outcome: 'success',
    actor,
    details: { alertId: alert.id, rule: alert.rule, severity: alert.severity },
  });
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { AlertSeverity, AlertState } from '../db/monitoring-schema.js';

export type AlertTransition = 'opened' | 'acknowledged' | 'resolved';

/** What the on-call engineer is told about an alert when it changes state. Never a credential or customer data. */
export interface AlertNotice {
  id: string;
  rule: string;
  severity: AlertSeverity;
  /** What the alert is about, as people read it (an account id, a source network, a tenant id, the certificate). */
  subject: string;
  state: AlertState;
  transition: AlertTransition;
  openedAt: string;
  occurrences: number;
  summary: string;
  details?: Record<string, unknown>;
  /** Who acknowledged or resolved it: a staff id, or `system` when the condition cleared. */
  by?: string;
}

/**
 * The seam between raising alerts (the monitor, the alert store) and telling people (e-mail to
 * CONFIDE_ALERT_EMAILS, the signed webhook). Called inside the transaction that changes the alert,
 * so a notification exists exactly when its change commits, and delivery, which retries, starts
 * after the commit: nothing is lost when a receiver is down.
 */
export interface AlertNotifier {
  notify(trx: Kysely<DB>, notice: AlertNotice): Promise<void>;
}

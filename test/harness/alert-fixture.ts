import type { AlertNotice, AlertTransition } from '../../src/monitoring/alert-notifier.js';
import { ENCRYPTED_FIELDS } from '../../src/keys/encrypted-fields.js';
import { newId } from '../../src/lib/ids.js';
import type { TestApp } from './test-app.js';

const SUMMARY = '40 failed sign-ins over 25 accounts in 5 minutes';

/**
 * An alert row written straight into `alerts` (subject sealed as the alert store seals it), and
 * its notice: for the delivery tests, which check what the notifier sends, not which rule fired.
 */
export async function insertTestAlert(t: TestApp, subject = 'source 203.0.113.0'): Promise<AlertNotice> {
  const { db, keyRing, clock } = t.app.services;
  const id = newId();
  const at = clock.now().toISOString();
  await db
    .insertInto('alerts')
    .values({
      id,
      rule: 'credential-stuffing',
      subject_index: `test-${id}`,
      subject_enc: keyRing.systemCipher().encrypt(subject, ENCRYPTED_FIELDS.alertsSubject.location({ id })),
      severity: 'high',
      state: 'open',
      opened_at: at,
      last_seen_at: at,
      occurrences: 3,
      details_enc: keyRing.systemCipher().encrypt(JSON.stringify({ summary: SUMMARY, details: {} }), ENCRYPTED_FIELDS.alertsDetails.location({ id })),
      acknowledged_at: null,
      acknowledged_by: null,
      resolved_at: null,
      resolved_by: null,
    })
    .execute();
  return { id, rule: 'credential-stuffing', severity: 'high', subject, state: 'open', transition: 'opened', openedAt: at, occurrences: 3, summary: SUMMARY };
}

/** Calls the app's AlertNotifier for one transition of `notice`, inside a transaction, as the alert store does. */
export async function notifyTransition(t: TestApp, notice: AlertNotice, transition: AlertTransition, by?: string): Promise<void> {
  const state = transition === 'opened' ? 'open' : transition;
  await t.app.services.transactions.run((trx) => t.app.services.alertNotifier.notify(trx, { ...notice, transition, state, ...(by ? { by } : {}) }));
}

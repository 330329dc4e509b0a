import type { Kysely } from 'kysely';
import type { SecurityEventSink } from '../core/security-events.js';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../lib/time.js';
import type { AlertNotifier } from './alert-notifier.js';

/** What the monitor and the alert store use. */
export interface MonitoringDeps {
  db: Kysely<DB>;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
  /** Tells the on-call engineer (e-mail, webhook) of every transition, inside its transaction. */
  alertNotifier: AlertNotifier;
}

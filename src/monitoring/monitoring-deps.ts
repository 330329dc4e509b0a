import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../lib/time.js';
import type { AlertNotifier } from './alert-notifier.js';
import type { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import type { SigningKeys } from '../keys/signing-keys.js';

/** What the monitor and the alert store use. */
export interface MonitoringDeps {
  db: Kysely<DB>;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
  /** The access-log self-check holds each chain against its latest signed checkpoint. */
  checkpoints: Pick<AccessLogCheckpoints, 'latest'>;
  signingKeys: Pick<SigningKeys, 'authenticPublicKeys'>;
  /** Tells the on-call engineer (e-mail, webhook) of every transition, inside its transaction. */
  alertNotifier: AlertNotifier;
  /** The key-max-age rule reads CONFIDE_KEY_MAX_AGE_DAYS (keyRotation.maxAgeDays). */
  config: Pick<Readonly<Config>, 'keyRotation' | 'backup'>;
}

import type { Config } from '../../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { TransactionRunner } from '../../db/transaction-runner.js';
import type { KeyRing } from '../../keys/key-ring.js';
import type { Clock } from '../../lib/time.js';
import type { MailQueue } from '../../mail/mail-queue.js';
import type { SecurityEventSink } from '../../core/security-events.js';

/** What the user's account use cases (e-mail and password changes, reset) need. */
export interface AccountDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  mail: MailQueue;
  securityEvents: SecurityEventSink;
}

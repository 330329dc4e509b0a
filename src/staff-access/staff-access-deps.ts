import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from '../audit/access-log.js';
import type { MailQueue } from '../mail/mail-queue.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { Clock } from '../lib/time.js';

/** What the staff-access use cases need: storage, keys, the access log, mail and security events. */
export interface StaffAccessDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  accessLog: AccessLog;
  clock: Clock;
  mail: MailQueue;
  securityEvents: SecurityEventSink;
}

import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { Clock } from '../lib/time.js';

/** What the staff-account use cases need: storage, the system keys, the clock and security events. */
export interface StaffDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
}

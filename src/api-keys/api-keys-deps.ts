import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Dialect } from '../db/store-dialect.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Clock } from '../lib/time.js';
import type { SecurityEventSink } from '../core/security-events.js';

/** What the API-key use cases need. */
export interface ApiKeysDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
  /** Whether the creator's membership row can be locked (PostgreSQL) while the key is written. */
  dialect: Dialect;
}

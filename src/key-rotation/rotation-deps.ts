import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { DB } from '../db/schema.js';
import type { Dialect } from '../db/store-dialect.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Clock } from '../lib/time.js';
import type { KeyRing } from '../keys/key-ring.js';

/** What rotation and re-encryption use of the services (app/ hands in the whole bag, which satisfies it). */
export interface RotationDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  clock: Clock;
  securityEvents: SecurityEventSink;
  config: Pick<Readonly<Config>, 'dataCipher' | 'dataDir' | 'keyRotation'>;
}

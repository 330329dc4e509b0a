import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from '../audit/access-log.js';
import type { Clock } from '../lib/time.js';
import type { BlobStore } from '../files/blob-store.js';

/** What the record use cases need: storage, the tenant keys and the access log. */
export interface RecordsDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  keyRing: KeyRing;
  accessLog: AccessLog;
  clock: Clock;
  /** Where its files' blobs rest: removed with the record. */
  fileBlobs: Pick<BlobStore, 'remove'>;
}

import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from '../audit/access-log.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { Clock } from '../lib/time.js';
import type { BlobStore } from './blob-store.js';

/** What the file use cases need: the records' storage and keys, the access log, the blob store. */
export interface FilesDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  transactions: TransactionRunner;
  keyRing: KeyRing;
  accessLog: AccessLog;
  securityEvents: SecurityEventSink;
  clock: Clock;
  fileBlobs: BlobStore;
}

import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { Dialect } from '../db/database.js';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { AccessLog } from '../audit/access-log.js';
import type { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { TenantKeyStore } from '../keys/tenant-key-store.js';
import type { MasterKey } from '../keys/master-key.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { MailQueue } from '../mail/mail-queue.js';
import type { StoringSecurityEventSink } from './security-event-sink.js';
import type { Clock } from '../lib/time.js';
import type { Metrics } from '../metrics/metrics.js';
import type { AlertDelivery } from '../monitoring/alert-delivery.js';
import type { SyslogForwarder } from '../security-events/syslog-forwarder.js';
import type { BlobStore } from '../files/blob-store.js';
import type { Backups } from '../backup/backups.js';

/**
 * Everything a deployment opens once (app/open-services.ts). Only the wiring sees the whole set:
 * each use case declares, in its own folder, the few of these it uses (`RecordsDeps`,
 * `MembersDeps`, …), and this bag satisfies each of them structurally.
 */
export interface Services {
  config: Readonly<Config>;
  db: Kysely<DB>;
  dialect: Dialect;
  /** Runs a unit of work in a durable transaction (grouped commits on SQLite). */
  transactions: TransactionRunner;
  /** The root of the key hierarchy (src/keys/master-key.ts): wraps, never hands out, the master key. */
  masterKey: MasterKey;
  keyRing: KeyRing;
  /** Tenants' key-encryption keys outside the database (CONFIDE_TENANT_KEY_DIR); null: none, a tenant deletion cannot shred. */
  tenantKeys: TenantKeyStore | null;
  /** The Ed25519 keys that sign access-log checkpoints (private halves wrapped by the master key). */
  signingKeys: SigningKeys;
  accessLog: AccessLog;
  /** Signed checkpoints of each tenant's chain head: `checkpointNow(tenantId)` seals a head at once (an export, a deletion). */
  checkpoints: AccessLogCheckpoints;
  clock: Clock;
  /** The persistent mail queue: enqueue inside a transaction, then `kick()`. */
  mail: MailQueue;
  securityEvents: StoringSecurityEventSink;
  /** Prometheus metrics (own registry): each listener, the access log, group commit and the sink count into it; GET /metrics reads it. */
  metrics: Metrics;
  /** Tells people about alert changes (e-mail, signed webhook): the monitor calls `notify(trx, notice)`; its webhook queue is a worker. */
  alertNotifier: AlertDelivery;
  /** Forwards every security event to CONFIDE_SYSLOG_URL, when set. */
  syslog: SyslogForwarder | undefined;
  /** Where files attached to records rest, sealed (`<data dir>/files`): see docs/files.md. */
  fileBlobs: BlobStore;
  /** Backups at CONFIDE_BACKUP_TARGET (src/backup/, docs/backups.md); null when no target is configured. */
  backups: Backups | null;
}

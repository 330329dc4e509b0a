import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from '../audit/access-log.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Clock } from '../lib/time.js';
import type { SecurityEventSink } from '../core/security-events.js';
import type { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import type { TenantKeyStore } from '../keys/tenant-key-store.js';
import type { BlobStore } from '../files/blob-store.js';

// Each use case names the few services it uses; app/ builds them once and hands each its share.

/** What `createTenant` needs: a key for the tenant and the anchor of its access-log chain. */
export interface NewTenantDeps {
  keyRing: KeyRing;
  accessLog: AccessLog;
}

/** What the tenant-settings use cases need. */
export interface TenantSettingsDeps {
  db: Kysely<DB>;
  /** Runs a unit of work in a durable transaction. */
  transactions: TransactionRunner;
  clock: Clock;
  securityEvents: SecurityEventSink;
}

/** What deleting a tenant needs: its log (a last entry, a final signed checkpoint), its keys (to destroy them) and its rows. */
export interface TenantDeletionDeps {
  db: Kysely<DB>;
  transactions: TransactionRunner;
  clock: Clock;
  keyRing: KeyRing;
  /** Null: no tenant key store, so the deletion removes the rows but cannot shred. */
  tenantKeys: TenantKeyStore | null;
  accessLog: AccessLog;
  checkpoints: Pick<AccessLogCheckpoints, 'checkpointNow'>;
  securityEvents: SecurityEventSink;
  /** Its files' blobs (src/files/): removed after its rows. Already unreadable once its keys are gone. */
  fileBlobs: Pick<BlobStore, 'removeTenant'>;
  /** Copies of tenants' keys kept elsewhere (the backup target, src/backup/): told after a key is destroyed; null: none. */
  backups: TenantKeyCopies | null;
}

/** Where a tenant's key has copies that must go with it: each archive, old ones included, then no longer opens that tenant. */
export interface TenantKeyCopies {
  /** Best effort: a target that is down now is brought in step by the next backup. */
  tenantDeleted(tenantId: string, deletedAt: string): Promise<void>;
}

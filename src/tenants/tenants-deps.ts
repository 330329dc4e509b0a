import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from '../audit/access-log.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Clock } from '../lib/time.js';
import type { SecurityEventSink } from '../core/security-events.js';

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

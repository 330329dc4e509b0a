import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import { DecryptionError } from '../lib/aes-gcm.js';
import { unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';
import { recordTenantKeyStore } from './tenant-key-store-record.js';
import type { KeyWrapper, TenantKeyStore } from './tenant-key-store.js';

export interface TenantKeyMigration {
  /** Tenants whose keys are now under a TKEK of the target store. */
  tenants: number;
  /** key_ring rows re-wrapped by this run (an earlier, stopped run's are not counted again). */
  keys: number;
  /** Deleted tenants whose tombstones the target now holds too. */
  tombstones: number;
}

/**
 * Moves every tenant's TKEK from one store to another (files ↔ HSM token objects), in an order
 * where a crash at any point leaves every tenant readable and every deleted tenant deleted, and
 * running it again finishes the job:
 * 1. the source's tombstones are copied to the target first, so a deleted tenant can never get a
 *    TKEK there;
 * 2. each live tenant gets a TKEK in the target (durable before the database points at it);
 * 3. one transaction re-wraps every `wrapped_by = 'tenant'` key_ring row under its tenant's new
 *    TKEK: the moment the migration happens. A row the target already opens was moved by an
 *    earlier run and is left alone;
 * 4. after the commit, the source's TKEKs are destroyed (without a tombstone: the tenants live on
 *    in the target). Its tombstones stay where they are;
 * 5. the database records the target as its store (tenant-key-store-record.ts): from then on a
 *    start with the old setting is refused.
 * Every node must be stopped (a running one would keep wrapping new keys under the source).
 */
export async function migrateTenantKeys(
  db: Kysely<DB>,
  transactions: TransactionRunner,
  isPostgres: boolean,
  source: TenantKeyStore,
  target: TenantKeyStore,
): Promise<TenantKeyMigration> {
  const tombstones = source.tombstones();
  for (const { tenantId, deletedAt } of tombstones) target.destroy(tenantId, deletedAt);
  const targets = new Map<string, KeyWrapper>();
  for (const owner of await tenantWrappedOwners(db)) {
    // A tenant deleted here whose rows a restored copy brought back: unreadable, and stays so.
    if (source.deletedAt(owner) === null) targets.set(owner, target.wrapperOf(owner, { create: true }));
  }
  const keys = await transactions.run(async (trx) => {
    if (isPostgres) await sql`LOCK TABLE key_ring IN EXCLUSIVE MODE`.execute(trx);
    return rewrapRows(trx, source, targets);
  });
  // Only the tenants moved above: a tenant a still-running node made meanwhile keeps its source TKEK (nothing is lost; docs/keys.md says to stop every node).
  for (const owner of targets.keys()) source.discard(owner);
  // Last: until now a start with the old setting is allowed, so that running this again finishes the move.
  await recordTenantKeyStore(db, target.kind);
  return { tenants: targets.size, keys, tombstones: tombstones.length };
}

async function tenantWrappedOwners(db: Kysely<DB>): Promise<string[]> {
  const rows = await db.selectFrom('key_ring').select('owner').distinct().where('wrapped_by', '=', 'tenant').where('state', '<>', 'destroyed').execute();
  return rows.map((row) => row.owner);
}

async function rewrapRows(trx: Kysely<DB>, source: TenantKeyStore, targets: ReadonlyMap<string, KeyWrapper>): Promise<number> {
  const rows = await trx.selectFrom('key_ring').select(['id', 'owner', 'purpose', 'version', 'wrapped_key']).where('wrapped_by', '=', 'tenant').where('state', '<>', 'destroyed').execute();
  const sources = new Map<string, KeyWrapper>();
  let moved = 0;
  for (const row of rows) {
    const target = targets.get(row.owner);
    if (!target) continue;
    const slot: KeySlot = { owner: row.owner, purpose: row.purpose, version: Number(row.version) };
    if (opens(target, slot, row.wrapped_key)) continue;
    // Asked for only now: on a re-run after the source was emptied, every row already opens above.
    if (!sources.has(row.owner)) sources.set(row.owner, source.wrapperOf(row.owner));
    const key = unwrapKey(sources.get(row.owner)!, slot, row.wrapped_key);
    await trx.updateTable('key_ring').set({ wrapped_key: wrapKey(target, slot, key) }).where('id', '=', row.id).execute();
    key.fill(0);
    moved += 1;
  }
  return moved;
}

function opens(wrapper: KeyWrapper, slot: KeySlot, wrapped: string): boolean {
  try {
    unwrapKey(wrapper, slot, wrapped).fill(0);
    return true;
  } catch (error) {
    if (error instanceof DecryptionError) return false;
    throw error;
  }
}

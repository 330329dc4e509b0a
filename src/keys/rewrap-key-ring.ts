import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';
import type { MasterKey } from './master-key.js';

/**
 * Wraps every key_ring row the master key wraps (not destroyed) again under `next`, inside the
 * caller's transaction, and records `next` as the deployment's master key; returns how many rows it
 * re-wrapped. Rows a tenant's TKEK wraps are the tenant key store's (TenantKeyStore.rewrapAll).
 */
export async function rewrapKeyRing(executor: Kysely<DB>, current: MasterKey, next: MasterKey): Promise<number> {
  // The switch is recorded first: its row lock makes a running node's createKey (which checks the
  // id under the same lock, key-ring-rows.ts holdMasterKeyId) either commit before the rows below
  // are read, or fail on the new id.
  await executor.updateTable('system_meta').set({ value: next.id }).where('key', '=', 'master_key_id').execute();
  // In id order, so row locks are taken in the same order as any other writer that sorts by id.
  const rows = await executor.selectFrom('key_ring').select(['id', 'owner', 'purpose', 'version', 'wrapped_key']).where('state', '<>', 'destroyed').where('wrapped_by', '=', 'master').orderBy('id').execute();
  let rewrapped = 0;
  for (const row of rows) {
    const slot: KeySlot = { owner: row.owner, purpose: row.purpose, version: Number(row.version) };
    const key = unwrapKey(current, slot, row.wrapped_key);
    // Only if unchanged since read: a version the re-encryption job destroyed meanwhile stays destroyed.
    const result = await executor
      .updateTable('key_ring')
      .set({ wrapped_key: wrapKey(next, slot, key), master_key_id: next.id })
      .where('id', '=', row.id)
      .where('wrapped_key', '=', row.wrapped_key)
      .executeTakeFirst();
    rewrapped += Number(result.numUpdatedRows);
    key.fill(0);
  }
  return rewrapped;
}

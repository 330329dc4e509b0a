import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import { SYSTEM_OWNER } from './key-ring.js';
import { unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';
import type { MasterKey } from './master-key.js';
import type { TenantKeyStore } from './tenant-key-store.js';

/**
 * Moves tenants whose data keys are still wrapped by the master key (made before a tenant key
 * store was configured) under a TKEK of their own, at start, so every tenant can be shredded.
 * Per tenant: its TKEK is written durably first, then its rows are re-wrapped in one transaction
 * (a crash in between leaves an unused TKEK, used on the next start). Safe on several nodes at
 * once: they share the TKEK (the store never replaces one) and each row changes only while it is
 * still wrapped by the master key.
 *
 * A tenant the store has a tombstone for was deleted: these rows come from a copy of the database
 * restored from before its keys were moved, and they are erased here instead (the copy itself
 * still holds them: see docs/keys.md).
 */
export async function adoptTenantKeys(db: Kysely<DB>, masterKey: MasterKey, store: TenantKeyStore, clock: Clock): Promise<{ adopted: number; erased: number }> {
  const owners = await db
    .selectFrom('key_ring')
    .select('owner')
    .distinct()
    .where('owner', '<>', SYSTEM_OWNER)
    .where('wrapped_by', '=', 'master')
    .where('state', '<>', 'destroyed')
    .execute();
  let adopted = 0;
  let erased = 0;
  for (const { owner } of owners) {
    if (store.deletedAt(owner) !== null) {
      await eraseKeys(db, owner, clock);
      erased += 1;
      continue;
    }
    const kek = store.wrapperOf(owner, { create: true });
    await db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('key_ring').select(['id', 'purpose', 'version', 'wrapped_key']).where('owner', '=', owner).where('wrapped_by', '=', 'master').where('state', '<>', 'destroyed').execute();
      for (const row of rows) {
        const slot: KeySlot = { owner, purpose: row.purpose, version: Number(row.version) };
        const key = unwrapKey(masterKey, slot, row.wrapped_key);
        await trx.updateTable('key_ring').set({ wrapped_key: wrapKey(kek, slot, key), wrapped_by: 'tenant' }).where('id', '=', row.id).where('wrapped_by', '=', 'master').execute();
        key.fill(0);
      }
    });
    adopted += 1;
  }
  return { adopted, erased };
}

async function eraseKeys(db: Kysely<DB>, owner: string, clock: Clock): Promise<void> {
  await db
    .updateTable('key_ring')
    .set({ state: 'destroyed', wrapped_key: '', destroyed_at: clock.now().toISOString() })
    .where('owner', '=', owner)
    .where('state', '<>', 'destroyed')
    .execute();
}

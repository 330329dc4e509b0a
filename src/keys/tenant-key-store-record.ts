import type { Kysely } from 'kysely';
import { ConfigError } from '../config/load-config.js';
import type { DB } from '../db/schema.js';
import type { TenantKeyStore } from './tenant-key-store.js';

const RECORD = 'tenant_key_store';

/**
 * The database remembers which store holds its tenants' TKEKs (`system_meta.tenant_key_store`), so
 * that a start with the other store configured is refused before it makes anything: it would
 * otherwise give new tenants TKEKs in the wrong store and fail every existing tenant's reads.
 * Recorded at the first start with a store; changed only by `confide keys migrate-tenant-keys`.
 */
export async function checkTenantKeyStore(db: Kysely<DB>, store: TenantKeyStore | null): Promise<void> {
  if (!store) return; // no store: tenants' keys are under the master key, and the adoption at the next start with one moves them
  const recorded = await db.selectFrom('system_meta').select('value').where('key', '=', RECORD).executeTakeFirst();
  if (!recorded) {
    await db.insertInto('system_meta').values({ key: RECORD, value: store.kind }).onConflict((oc) => oc.column('key').doNothing()).execute();
    return checkTenantKeyStore(db, store); // another node may have recorded first
  }
  if (recorded.value === store.kind) return;
  throw new ConfigError([
    `the tenants' keys of this database are in the ${recorded.value} store, not the ${store.kind} one (CONFIDE_TENANT_KEY_STORE=${store.kind}): ` +
      `set CONFIDE_TENANT_KEY_STORE=${recorded.value}, or move them with confide keys migrate-tenant-keys --to ${store.kind}`,
  ]);
}

/** After a migration: the keys are in `kind` now. */
export async function recordTenantKeyStore(db: Kysely<DB>, kind: TenantKeyStore['kind']): Promise<void> {
  await db.insertInto('system_meta').values({ key: RECORD, value: kind }).onConflict((oc) => oc.column('key').doUpdateSet({ value: kind })).execute();
}

import type { MasterKey } from './master-key.js';
import { tenantKeyUnavailable, type KeyWrapper, type TenantKeyStore } from './tenant-key-store.js';

/** What wrapped a key_ring row (its `wrapped_by`): the master key, or its tenant's TKEK. */
export type WrappedBy = 'master' | 'tenant';

/**
 * Chooses what wraps a data key. With a tenant key store, a tenant's keys are wrapped under the
 * tenant's own TKEK (a file the master key wraps, or an HSM token object), so destroying that one
 * TKEK shreds the tenant even in old copies of the database; the system's keys, and every key of a
 * deployment without a store, are wrapped under the master key directly.
 */
export class DataKeyWrapping {
  constructor(
    private readonly masterKey: MasterKey,
    private readonly tenantKeys: TenantKeyStore | null,
  ) {}

  get shreddable(): boolean {
    return this.tenantKeys !== null;
  }

  /** For a new key of an owner (`isTenant`: not the system); creates the tenant's TKEK on its first key. */
  forNew(owner: string, isTenant: boolean): { wrapper: KeyWrapper; wrappedBy: WrappedBy } {
    if (!isTenant || !this.tenantKeys) return { wrapper: this.masterKey, wrappedBy: 'master' };
    return { wrapper: this.tenantKeys.wrapperOf(owner, { create: true }), wrappedBy: 'tenant' };
  }

  /** Why an owner has no usable key: deleted (410 TENANT_DELETED), or a plain fault. */
  noKeyError(owner: string): Error {
    return this.tenantKeys?.deletedAt(owner) ? tenantKeyUnavailable(owner) : new Error('no data key for this owner');
  }

  /** What opens an existing key of an owner (`isTenant`: not the system, which is never deleted and needs no tombstone look-up). */
  forExisting(owner: string, wrappedBy: WrappedBy, isTenant: boolean): KeyWrapper {
    if (wrappedBy === 'master') {
      // A tenant deleted here whose rows a restored copy brought back, still under the master key: refused (and erased at start, adopt-tenant-keys.ts).
      if (isTenant && this.tenantKeys?.deletedAt(owner)) throw tenantKeyUnavailable(owner);
      return this.masterKey;
    }
    if (!this.tenantKeys) throw new Error(`the keys of tenant ${owner} are wrapped by its tenant key, but no tenant key store is configured (CONFIDE_TENANT_KEY_DIR, CONFIDE_TENANT_KEY_STORE)`);
    return this.tenantKeys.wrapperOf(owner);
  }
}

import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { AppError } from '../lib/app-error.js';
import { formatWrapped, parseWrapped, type MasterKey } from './master-key.js';

/**
 * Where tenants' key-encryption keys (TKEK) live: outside the database, so that deleting a tenant
 * destroys something a restored copy of the database does not bring back. A tenant's data keys
 * (its key_ring rows) are wrapped under its TKEK, which is wrapped under the master key. Today the
 * store is a directory of files (file-tenant-key-store.ts); an HSM holding each TKEK as a token
 * object is the better, later answer, and another implementation of this interface.
 */
export interface TenantKeyStore {
  /** Names the store in messages, never a key: `tenant key directory /…`. */
  readonly description: string;
  /**
   * The tenant's TKEK. With `create`, one is made (on disk, durably, before this returns) when the
   * tenant has none yet. Throws TenantKeyUnavailableError when it was destroyed or is missing.
   */
  keyOf(tenantId: string, options?: { create?: boolean }): Buffer;
  /**
   * Destroys the tenant's TKEK for good and leaves a tombstone (no secret: the id and when), so it
   * is never made again for that id. Returns whether there was a key to destroy.
   */
  destroy(tenantId: string, deletedAt: string): boolean;
  /** When the tenant's TKEK was destroyed (its tombstone), or null. */
  deletedAt(tenantId: string): string | null;
  /**
   * Master key rotation or migration: adds a wrapping of every TKEK under `next` beside the one
   * under `current`, so either master key opens them until the database has switched too; then
   * `keepOnly(next.id)` drops the old wrappings. Returns how many TKEKs were re-wrapped.
   */
  rewrapAll(current: MasterKey, next: MasterKey): number;
  /** Drops every wrapping not made by the master key `masterKeyId` (after a master key switch committed). */
  keepOnly(masterKeyId: string): number;
}

/** What wraps data keys: the master key, or a tenant's TKEK (both AES-256-GCM, same `w1.` form). */
export interface KeyWrapper {
  wrap(key: Buffer, aad: Buffer): string;
  unwrap(wrapped: string, aad: Buffer): Buffer;
}

export function kekWrapper(kek: Buffer): KeyWrapper {
  return {
    wrap: (key, aad) => formatWrapped(sealAes256Gcm(kek, key, aad)),
    unwrap: (wrapped, aad) => openAes256Gcm(kek, parseWrapped(wrapped), aad),
  };
}

/** What a TKEK is bound to: copied to another tenant's file, it does not unwrap. */
export const tenantKekAad = (tenantId: string) => Buffer.from(`confide:tenant-kek:${tenantId}`, 'utf8');

/**
 * The tenant's key is gone: the tenant was deleted (crypto-shredded), and what is left of it (in a
 * restored copy of the database) can never be read. Public as 410: the data is gone for good, and
 * only someone who can still present a session of that tenant (from a restored copy) sees it.
 */
export function tenantKeyUnavailable(tenantId: string, cause?: unknown): AppError {
  return new AppError('TENANT_DELETED', { details: { tenantId }, cause });
}

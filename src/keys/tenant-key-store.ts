import type { TenantKeyStoreKind } from '../config/config.js';
import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { AppError } from '../lib/app-error.js';
import { formatWrapped, parseWrapped, type MasterKey } from './master-key.js';

/**
 * Where tenants' key-encryption keys (TKEK) live: outside the database, so that deleting a tenant
 * destroys something a restored copy of the database does not bring back. A tenant's data keys
 * (its key_ring rows) are wrapped under its TKEK. Two stores: a directory of files, each TKEK
 * wrapped under the master key (file-tenant-key-store.ts), or an HSM token holding each TKEK as a
 * non-extractable token object (pkcs11-tenant-key-store.ts). The store hands out a wrapper, not
 * the TKEK's bytes, so that a TKEK in an HSM never enters this process.
 */
export interface TenantKeyStore {
  readonly kind: TenantKeyStoreKind;
  /** Names the store in messages, never a key: `tenant key directory /…`. */
  readonly description: string;
  /**
   * What wraps the tenant's data keys under its TKEK. With `create`, a TKEK is made (durably,
   * before this returns) when the tenant has none yet. Throws TENANT_DELETED when it was destroyed,
   * a plain error when it is missing.
   */
  wrapperOf(tenantId: string, options?: { create?: boolean }): KeyWrapper;
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
   * `keepOnly(next.id)` drops the old wrappings. Returns how many TKEKs were re-wrapped (0 for
   * TKEKs an HSM holds: they are not wrapped under the master key, and its change leaves them be).
   */
  rewrapAll(current: MasterKey, next: MasterKey): number;
  /** Drops every wrapping not made by the master key `masterKeyId` (after a master key switch committed). */
  keepOnly(masterKeyId: string): number;
  /** Every tombstone: the tenants deleted here, and when (`confide keys migrate-tenant-keys` carries them over). */
  tombstones(): Array<{ tenantId: string; deletedAt: string }>;
  /**
   * Removes the tenant's TKEK without a tombstone: its keys were moved to another store (the
   * tenant lives on there). Returns whether there was one.
   */
  discard(tenantId: string): boolean;
  /** Releases what the store holds (an HSM session); it is not used afterwards. */
  close(): void;
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

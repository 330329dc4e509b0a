import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { NewTenantDeps } from './tenants-deps.js';
import type { Cipher } from '../keys/cipher.js';
import { insertTenant } from './tenant-repository.js';

/**
 * Everything a tenant starts with, inside the caller's transaction: its own AES-256 data key
 * (wrapped by the master key), its encrypted name and the anchor of its access-log chain.
 */
export async function createTenant(
  services: NewTenantDeps,
  trx: Kysely<DB>,
  tenant: { id: string; name: string; createdAt: string },
): Promise<Cipher> {
  const cipher = await services.keyRing.createOwnerKey(trx, tenant.id);
  await insertTenant(trx, tenant, cipher);
  await services.accessLog.startChain(trx, tenant.id);
  return cipher;
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

export async function insertTenant(
  trx: Kysely<DB>,
  tenant: { id: string; name: string; createdAt: string },
  cipher: Cipher,
): Promise<void> {
  await trx
    .insertInto('tenants')
    .values({ id: tenant.id, name_enc: cipher.encrypt(tenant.name, ENCRYPTED_FIELDS.tenantsName.location(tenant)), created_at: tenant.createdAt })
    .execute();
}

export async function findTenantName(db: Kysely<DB>, tenantId: string, cipher: Cipher): Promise<string | undefined> {
  const row = await db.selectFrom('tenants').select('name_enc').where('id', '=', tenantId).executeTakeFirst();
  return row && cipher.decrypt(row.name_enc, ENCRYPTED_FIELDS.tenantsName.location({ id: tenantId }));
}

/** Every tenant's id, in id order (the CLI's whole-deployment checks). */
export async function listTenantIds(db: Kysely<DB>): Promise<string[]> {
  const rows = await db.selectFrom('tenants').select('id').orderBy('id').execute();
  return rows.map((row) => row.id);
}

export async function tenantExists(db: Kysely<DB>, tenantId: string): Promise<boolean> {
  return (await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst()) !== undefined;
}

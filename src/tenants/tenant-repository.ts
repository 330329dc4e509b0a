import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';

const nameLocation = (tenantId: string) => ({ table: 'tenants', rowId: tenantId, field: 'name' });

export async function insertTenant(
  trx: Kysely<DB>,
  tenant: { id: string; name: string; createdAt: string },
  cipher: Cipher,
): Promise<void> {
  await trx
    .insertInto('tenants')
    .values({ id: tenant.id, name_enc: cipher.encrypt(tenant.name, nameLocation(tenant.id)), created_at: tenant.createdAt })
    .execute();
}

export async function findTenantName(db: Kysely<DB>, tenantId: string, cipher: Cipher): Promise<string | undefined> {
  const row = await db.selectFrom('tenants').select('name_enc').where('id', '=', tenantId).executeTakeFirst();
  return row && cipher.decrypt(row.name_enc, nameLocation(tenantId));
}

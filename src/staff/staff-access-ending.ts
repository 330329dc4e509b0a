import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * Ends whatever access a staff member holds, inside the caller's transaction: every unrevoked
 * grant is revoked (by the system) and every pending request denied. Used when the account is
 * disabled, so nothing they were given outlives the account.
 */
export async function endStaffAccess(trx: Kysely<DB>, staffId: string, now: string): Promise<{ grants: Array<{ id: string; tenantId: string }> }> {
  const grants = await trx
    .selectFrom('access_grants')
    .select(['id', 'tenant_id'])
    .where('staff_id', '=', staffId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .execute();
  if (grants.length > 0) {
    await trx
      .updateTable('access_grants')
      .set({ revoked_at: now, revoked_by_type: 'system', revoked_by: null })
      .where('id', 'in', grants.map((grant) => grant.id))
      .execute();
  }
  await trx
    .updateTable('access_requests')
    .set({ status: 'denied', decided_at: now, decided_by_type: 'system', decided_by: null })
    .where('staff_id', '=', staffId)
    .where('status', '=', 'pending')
    .execute();
  return { grants: grants.map((grant) => ({ id: grant.id, tenantId: grant.tenant_id })) };
}

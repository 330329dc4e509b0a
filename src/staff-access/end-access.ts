import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** Whose access ends: one staff member's (disabled), or everyone's to one tenant (it chose `deny`). */
export type AccessHolders = { staffId: string } | { tenantId: string };

export interface EndedAccess {
  grants: Array<{ id: string; tenantId: string; staffId: string }>;
  requests: Array<{ id: string; tenantId: string; staffId: string }>;
}

/**
 * Ends access already given, inside the caller's transaction: every live grant of `holders` is
 * revoked and every pending request (break-glass included) denied, by `by` (`system` with no id
 * when an operator disables a staff member). Returns what ended, for the security events to record
 * once the transaction has committed.
 */
export async function endAccess(trx: Kysely<DB>, holders: AccessHolders, by: { type: string; id: string | null }, now: string): Promise<EndedAccess> {
  const [column, value] = 'staffId' in holders ? (['staff_id', holders.staffId] as const) : (['tenant_id', holders.tenantId] as const);
  const grants = await trx
    .selectFrom('access_grants')
    .select(['id', 'tenant_id', 'staff_id'])
    .where(column, '=', value)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .execute();
  if (grants.length > 0) {
    await trx
      .updateTable('access_grants')
      .set({ revoked_at: now, revoked_by_type: by.type, revoked_by: by.id })
      .where(column, '=', value)
      .where('id', 'in', grants.map((grant) => grant.id))
      .execute();
  }
  const requests = await trx.selectFrom('access_requests').select(['id', 'tenant_id', 'staff_id']).where(column, '=', value).where('status', '=', 'pending').execute();
  if (requests.length > 0) {
    await trx
      .updateTable('access_requests')
      .set({ status: 'denied', decided_at: now, decided_by_type: by.type, decided_by: by.id })
      .where(column, '=', value)
      .where('id', 'in', requests.map((request) => request.id))
      .execute();
  }
  const ended = (row: { id: string; tenant_id: string; staff_id: string }) => ({ id: row.id, tenantId: row.tenant_id, staffId: row.staff_id });
  return { grants: grants.map(ended), requests: requests.map(ended) };
}

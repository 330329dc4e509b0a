import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Actor } from '../core/actor.js';
import type { SecurityEventSink } from '../core/security-events.js';

/**
 * What choosing `deny` does to staff access a tenant had already given: inside the transaction
 * that saves the setting, every live grant of the tenant is revoked (by whoever chose `deny`) and
 * every pending request, break-glass included, is denied. `deny` withdraws; it does not pause, so
 * switching back later brings nothing back. Returns what to record once the change has committed.
 */
export function staffAccessWithdrawal(securityEvents: SecurityEventSink) {
  return async (trx: Kysely<DB>, tenantId: string, by: Actor, now: string): Promise<() => void> => {
    const grants = await trx
      .selectFrom('access_grants')
      .select(['id', 'staff_id'])
      .where('tenant_id', '=', tenantId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .execute();
    if (grants.length > 0) {
      await trx
        .updateTable('access_grants')
        .set({ revoked_at: now, revoked_by_type: by.type, revoked_by: by.id })
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', grants.map((grant) => grant.id))
        .execute();
    }
    const pending = await trx.selectFrom('access_requests').select(['id', 'staff_id']).where('tenant_id', '=', tenantId).where('status', '=', 'pending').execute();
    if (pending.length > 0) {
      await trx
        .updateTable('access_requests')
        .set({ status: 'denied', decided_at: now, decided_by_type: by.type, decided_by: by.id })
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', pending.map((request) => request.id))
        .execute();
    }
    return () => {
      for (const grant of grants) {
        securityEvents.record({ type: 'staff.access.revoked', outcome: 'success', tenantId, actor: by, details: { grantId: grant.id, staffId: grant.staff_id, reason: 'tenant_chose_deny' } });
      }
      for (const request of pending) {
        securityEvents.record({ type: 'staff.access.denied', outcome: 'success', tenantId, actor: by, details: { requestId: request.id, staffId: request.staff_id, reason: 'tenant_chose_deny' } });
      }
    };
  };
}

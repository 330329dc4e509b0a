import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Actor } from '../core/actor.js';
import type { SecurityEventSink } from '../core/security-events.js';
import { endAccess } from './end-access.js';

/**
 * What choosing `deny` does to staff access a tenant had already given: inside the transaction
 * that saves the setting, every live grant of the tenant is revoked (by whoever chose `deny`) and
 * every pending request, break-glass included, is denied. `deny` withdraws; it does not pause, so
 * switching back later brings nothing back. Returns what to record once the change has committed.
 */
export function staffAccessWithdrawal(securityEvents: SecurityEventSink) {
  return async (trx: Kysely<DB>, tenantId: string, by: Actor, now: string): Promise<() => void> => {
    const { grants, requests } = await endAccess(trx, { tenantId }, by, now);
    return () => {
      for (const grant of grants) {
        securityEvents.record({ type: 'staff.access.revoked', outcome: 'success', tenantId, actor: by, details: { grantId: grant.id, staffId: grant.staffId, reason: 'tenant_chose_deny' } });
      }
      for (const request of requests) {
        securityEvents.record({ type: 'staff.access.denied', outcome: 'success', tenantId, actor: by, details: { requestId: request.id, staffId: request.staffId, reason: 'tenant_chose_deny' } });
      }
    };
  };
}

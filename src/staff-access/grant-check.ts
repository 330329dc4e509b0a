import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { actorOf, type GrantedStaffPrincipal, type StaffGrantScope, type StaffPrincipal } from '../core/principal.js';
import { isAllowed } from '../core/policies.js';
import type { SecurityEventSink } from '../core/security-events.js';
import { AppError } from '../lib/app-error.js';
import { isUuid } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import { requestStatus } from './access-status.js';
import { findLatestRequest, findLiveGrants, isStaffDisabled, tenantDeniesStaff, type LiveGrantRow } from './grant-check-repository.js';

/** What the grant check needs: the grants, the injectable clock, and the security-event sink for refusals. */
export interface GrantCheckDeps {
  db: Kysely<DB>;
  clock: Clock;
  securityEvents: SecurityEventSink;
}

/** The staff data actions, each allowed by a grant of at least one scope (core/policies.ts GRANT_SCOPES). */
export type StaffDataAction = 'records.metadata' | 'records.read' | 'records.write';

/** The narrowest scope each action needs: what a refusal tells the staff member to ask for. */
export const NEEDED_SCOPE: Record<StaffDataAction, StaffGrantScope> = {
  'records.metadata': 'metadata',
  'records.read': 'read',
  'records.write': 'read-write',
};

const WIDTH: Record<StaffGrantScope, number> = { metadata: 0, read: 1, 'read-write': 2 };

/** Why a staff data request found no grant to act under (the `staff.grant.refused` event's `details.why`). */
export type RefusalReason = 'none' | 'pending' | 'denied' | 'expired' | 'revoked' | 'scope' | 'disabled' | 'tenant_denies';

/** The request being checked: the tenant named in its path, the action, and what the refusal event records of it. */
export interface StaffDataRequest {
  tenantId: string;
  action: StaffDataAction;
  method: string;
  route: string;
  ip: string;
}

/**
 * The check before every staff data request: an active grant of this staff member for the tenant
 * in the path, with enough scope, read from the database on each request (no cache, so a revoke
 * or a disabling takes effect on the very next one), against the injectable clock. It runs before
 * any record is read; a refusal is 403 GRANT_REQUIRED, which carries no customer data, and a
 * `staff.grant.refused` security event filed under that tenant, so the tenant sees the attempt too.
 */
export class GrantCheck {
  constructor(private readonly deps: GrantCheckDeps) {}

  async grantedPrincipal(staff: StaffPrincipal, request: StaffDataRequest): Promise<GrantedStaffPrincipal> {
    const { tenantId, action } = request;
    // Not a tenant id at all: no grant can name it, and nothing is filed under it.
    if (!isUuid(tenantId)) throw new AppError('VALIDATION_FAILED', { message: 'tenantId must be a tenant id.', details: { field: 'tenantId' } });
    const now = this.deps.clock.now();
    const grant = widest(await findLiveGrants(this.deps.db, staff.staffId, tenantId, now.toISOString()));
    if (grant) {
      const principal: GrantedStaffPrincipal = {
        ...staff,
        tenantId,
        grant: { id: grant.id, tenantId: grant.tenant_id, scope: grant.scope, justification: grant.justification, expiresAt: grant.expires_at },
      };
      // The one rule of what each scope allows lives in core/policies.ts; asked with this clock's time.
      if (isAllowed(principal, action, { tenantId }, now)) return principal;
    }
    const why = grant ? 'scope' : await this.whyNoGrant(staff.staffId, tenantId, now);
    throw this.refuse(staff, request, why);
  }

  private async whyNoGrant(staffId: string, tenantId: string, now: Date): Promise<RefusalReason> {
    if (await isStaffDisabled(this.deps.db, staffId)) return 'disabled';
    if (await tenantDeniesStaff(this.deps.db, tenantId)) return 'tenant_denies';
    const latest = await findLatestRequest(this.deps.db, staffId, tenantId);
    if (!latest) return 'none';
    // The request's status as the tenant sees it (a pending request lapses, a grant expires or is revoked).
    const status = requestStatus(latest, now);
    // `active` with no live grant: one that starts later, as good as still pending.
    return status === 'active' ? 'pending' : status;
  }

  private refuse(staff: StaffPrincipal, request: StaffDataRequest, why: RefusalReason): AppError {
    const scope = NEEDED_SCOPE[request.action];
    this.deps.securityEvents.record({
      type: 'staff.grant.refused',
      outcome: 'refused',
      actor: actorOf(staff),
      tenantId: request.tenantId,
      ip: request.ip,
      details: { method: request.method, route: request.route, scope, why },
    });
    return new AppError('GRANT_REQUIRED', {
      message: `This needs an active access grant for tenant ${request.tenantId} with scope ${scope} or wider (POST /admin/v1/access-requests).`,
      details: { tenantId: request.tenantId, scope },
    });
  }
}

/** The widest of the live grants (the latest to expire among equals): several may overlap. */
function widest(grants: LiveGrantRow[]): LiveGrantRow | undefined {
  return grants.reduce<LiveGrantRow | undefined>((best, grant) => {
    if (!best) return grant;
    const difference = WIDTH[grant.scope] - WIDTH[best.scope];
    return difference > 0 || (difference === 0 && grant.expires_at > best.expires_at) ? grant : best;
  }, undefined);
}

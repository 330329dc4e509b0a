import type { StaffPrincipal } from '../core/principal.js';
import type { AccessGrantView, AccessRequestView } from './access-request-view.js';
import { listRequests, loadRequest, type ListOptions, type RequestPage } from './request-loading.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

/**
 * What a staff member may see of requests and grants: a `support` sees their own; a
 * `security-admin` sees everyone's (they approve and review break-glass, and answer for all staff
 * access). Anything else answers 404, as a missing one does.
 */
function visibleTo(staff: StaffPrincipal): { staffId?: string } {
  return staff.role === 'security-admin' ? {} : { staffId: staff.staffId };
}

export function listStaffRequests(deps: StaffAccessDeps, staff: StaffPrincipal, options: ListOptions & { tenantId?: string }): Promise<RequestPage> {
  return listRequests(deps, { ...visibleTo(staff), tenantId: options.tenantId }, options);
}

export function getStaffRequest(deps: StaffAccessDeps, staff: StaffPrincipal, id: string): Promise<AccessRequestView> {
  return loadRequest(deps.db, deps, id, visibleTo(staff));
}

export async function listStaffGrants(
  deps: StaffAccessDeps,
  staff: StaffPrincipal,
  options: { active?: boolean; tenantId?: string; limit: number; cursor?: string },
): Promise<{ items: AccessGrantView[]; nextCursor: string | null }> {
  const filter = { ...visibleTo(staff), tenantId: options.tenantId, granted: true };
  const page = await listRequests(deps, filter, { limit: options.limit, cursor: options.cursor, status: options.active ? 'active' : undefined });
  return { items: page.items.flatMap((request) => (request.grant ? [request.grant] : [])), nextCursor: page.nextCursor };
}

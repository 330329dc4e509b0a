import type { StaffPrincipal } from '../core/principal.js';
import { requireStaff } from '../core/policies.js';
import { LONGEST_SECURITY_EVENT_CURSOR, SECURITY_EVENT_CURSOR } from './security-event-cursor.js';
import type { SecurityEventQueryDeps } from './security-events-deps.js';
import { listStaffEvents, type StoredStaffEvent } from './security-event-store.js';

export interface StaffEventListing {
  items: StoredStaffEvent[];
  nextCursor: string | null;
}

/**
 * Every staff action across tenants (sign-ins, requests, decisions, grant uses and refusals,
 * policy publications and acknowledgements), newest first, a page at a time: for security-admins.
 */
export async function listStaffEventsFor(
  deps: SecurityEventQueryDeps,
  staff: StaffPrincipal,
  options: { limit: number; cursor?: string; staffId?: string },
): Promise<StaffEventListing> {
  requireStaff(staff, 'security-admin');
  const beforeId = options.cursor === undefined ? undefined : SECURITY_EVENT_CURSOR.decode(options.cursor);
  const page = await listStaffEvents(deps.db, deps.keyRing.systemCipher(), {
    limit: options.limit,
    beforeId,
    staffId: options.staffId,
    maxBytes: deps.config.lists.maxBytes,
    longestCursor: LONGEST_SECURITY_EVENT_CURSOR,
  });
  return { items: page.items, nextCursor: page.nextBeforeId === null ? null : SECURITY_EVENT_CURSOR.encode(page.nextBeforeId) };
}

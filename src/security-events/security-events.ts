import type { Caller } from '../core/principal.js';
import { LONGEST_SECURITY_EVENT_CURSOR, SECURITY_EVENT_CURSOR } from './security-event-cursor.js';
import type { SecurityEventQueryDeps } from './security-events-deps.js';
import { listSecurityEvents, type StoredSecurityEvent } from './security-event-store.js';

export interface SecurityEventListing {
  items: StoredSecurityEvent[];
  nextCursor: string | null;
}

/** The caller's tenant's security events, newest first, a page at a time, optionally of one type. */
export async function listForTenant(
  deps: SecurityEventQueryDeps,
  caller: Caller,
  options: { limit: number; cursor?: string; type?: string },
): Promise<SecurityEventListing> {
  const beforeId = options.cursor === undefined ? undefined : SECURITY_EVENT_CURSOR.decode(options.cursor);
  const page = await listSecurityEvents(deps.db, deps.keyRing.systemCipher(), caller.principal.tenantId, {
    limit: options.limit,
    beforeId,
    type: options.type,
    maxBytes: deps.config.lists.maxBytes,
    longestCursor: LONGEST_SECURITY_EVENT_CURSOR,
  });
  return { items: page.items, nextCursor: page.nextBeforeId === null ? null : SECURITY_EVENT_CURSOR.encode(page.nextBeforeId) };
}

import type { Actor } from '../audit/access-event.js';

export type Role = 'owner' | 'admin' | 'member';

/**
 * Who is calling, as established by authentication. The tenant comes only from here:
 * never from a body, a header or a query string.
 */
export interface MemberPrincipal {
  kind: 'member';
  userId: string;
  tenantId: string;
  role: Role;
  sessionId: string;
  /** When this session last proved its user with a password or a factor (for re-authentication). */
  sessionVerifiedAt: string | null;
}

export type Principal = MemberPrincipal;

/** The request facts every use case needs: who, for which tenant, from where. */
export interface Caller {
  principal: Principal;
  ip: string;
}

export function actorOf(principal: Principal): Actor {
  return { type: 'member', id: principal.userId };
}

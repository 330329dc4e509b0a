import type { Actor } from '../audit/access-event.js';

export type Role = 'owner' | 'admin' | 'member';
export type ApiKeyScope = 'read' | 'read-write';

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
  /** False when the tenant requires a second factor and this user has none yet. */
  mfaSatisfied: boolean;
  /** False until the user proves they own their e-mail address (against account pre-hijacking). */
  emailVerified: boolean;
}

/** A machine client: a tenant-scoped API key with a scope, and no user behind it. */
export interface ApiKeyPrincipal {
  kind: 'apiKey';
  apiKeyId: string;
  tenantId: string;
  scope: ApiKeyScope;
}

export type Principal = MemberPrincipal | ApiKeyPrincipal;

/** The request facts every use case needs: who, for which tenant, from where. */
export interface Caller {
  principal: Principal;
  ip: string;
}

export function actorOf(principal: Principal): Actor {
  return principal.kind === 'member' ? { type: 'member', id: principal.userId } : { type: 'apiKey', id: principal.apiKeyId };
}

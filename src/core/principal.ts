import type { Actor } from './actor.js';

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

/** What a staff grant lets its holder see of one tenant: metadata only, or its records too. */
export type StaffGrantScope = 'metadata' | 'read' | 'read-write';

/** A time-boxed, justified permission for one staff member to act on one tenant. */
export interface StaffGrant {
  id: string;
  tenantId: string;
  scope: StaffGrantScope;
  justification: string;
  expiresAt: string;
}

/** Staff roles: `support` asks for access; `security-admin` also publishes the staff policy and approves and reviews break-glass. */
export type StaffRole = 'support' | 'security-admin';

/**
 * An operator of the deployment, signed in on the admin listener: no tenant of their own. What
 * they may do for a tenant comes only from a grant, looked up for each request; without one,
 * nothing tenant-scoped.
 */
export interface StaffPrincipal {
  kind: 'staff';
  staffId: string;
  role: StaffRole;
  sessionId: string;
  /** False while a published staff policy version awaits this staff member's acknowledgement. */
  policyAcknowledged: boolean;
  /** The tenant the current grant is for, when there is one. */
  tenantId?: string;
  grant?: StaffGrant;
}

/** A staff member acting on one tenant under a grant checked for this very request. */
export interface GrantedStaffPrincipal extends StaffPrincipal {
  tenantId: string;
  grant: StaffGrant;
}

/** The principals that act inside a tenant (members and API keys): the public listener's callers. */
export type TenantPrincipal = MemberPrincipal | ApiKeyPrincipal;

export type Principal = TenantPrincipal | StaffPrincipal;

/** The request facts every use case needs: who, for which tenant, from where. */
export interface Caller {
  /** Tenant use cases serve tenant principals; staff reach a tenant only through a grant, on their own listener. */
  principal: TenantPrincipal;
  ip: string;
}

/**
 * Whoever reaches a tenant's data: its members and API keys, or staff under a grant. The record
 * use cases take this, so there is one path to customer data and the principal decides what it may do.
 */
export interface DataCaller {
  principal: TenantPrincipal | GrantedStaffPrincipal;
  ip: string;
}

/** Who an access-log entry names, and for staff the grant and justification it was made under. */
export function accessedBy(caller: DataCaller): { actor: Actor; ip: string; grantId?: string; justification?: string } {
  const { principal, ip } = caller;
  if (principal.kind !== 'staff') return { actor: actorOf(principal), ip };
  return { actor: actorOf(principal), ip, grantId: principal.grant.id, justification: principal.grant.justification };
}

export function actorOf(principal: Principal): Actor {
  switch (principal.kind) {
    case 'member':
      return { type: 'member', id: principal.userId };
    case 'apiKey':
      return { type: 'apiKey', id: principal.apiKeyId };
    case 'staff':
      return { type: 'staff', id: principal.staffId };
  }
}

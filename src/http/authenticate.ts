import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller, MemberPrincipal, Principal, StaffPrincipal, StaffRole } from '../core/principal.js';
import { authorize, requireMember, requireStaff, requireTenantPrincipal, type TenantAction } from '../core/policies.js';
import { AppError } from '../lib/app-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

export type Authenticator = (token: string) => Promise<Principal | undefined>;

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]+=*)$/;

/**
 * An onRequest hook that establishes the principal from `Authorization: Bearer …` (or answers 401)
 * and checks the route's access rule (or answers 403), before the body is even read.
 */
export interface AccessOptions {
  /** Open to a member whose tenant requires MFA before they have a factor (to set one up). */
  allowWithoutMfa?: boolean;
  /** Open to a member who has not yet verified their e-mail address (who am I, sign out, resend the link). */
  allowUnverifiedEmail?: boolean;
}

export function requireAuthentication(authenticate: Authenticator, access?: TenantAction | 'member', options: AccessOptions = {}) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const principal = match ? await authenticate(match[1]!) : undefined;
    if (!principal) throw new AppError('UNAUTHENTICATED', { details: { reason: 'authentication_required' } });
    request.principal = principal; // known even when refused below, for the security event
    if (principal.kind === 'member' && !principal.emailVerified && !options.allowUnverifiedEmail) throw new AppError('EMAIL_NOT_VERIFIED');
    if (principal.kind === 'member' && !principal.mfaSatisfied && !options.allowWithoutMfa) throw new AppError('MFA_REQUIRED');
    // Authorised before the body is validated: a caller who may not act learns nothing more.
    if (access === 'member') requireMember(principal);
    else if (access) authorize(principal, access);
  };
}

/** The authenticated caller of a request that passed `requireAuthentication`. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.principal) throw new AppError('UNAUTHENTICATED', { details: { reason: 'authentication_required' } });
  return { principal: requireTenantPrincipal(request.principal), ip: request.ip };
}

/** The signed-in user of a request; API keys get 403 here. */
export function memberOf(request: FastifyRequest): MemberPrincipal {
  return requireMember(callerOf(request).principal);
}

export interface StaffAccessOptions {
  /** The staff role the route needs (`security-admin`); any staff member otherwise. */
  role?: StaffRole;
  /** Open before the current staff policy is acknowledged: who am I, reading and acknowledging it, signing out. */
  allowUnacknowledgedPolicy?: boolean;
}

/**
 * The admin listener's onRequest hook: a staff session (or 401), the current staff policy
 * acknowledged (or 403 POLICY_ACKNOWLEDGEMENT_REQUIRED), and the route's role (or 403).
 */
export function requireStaffAuthentication(authenticate: Authenticator, options: StaffAccessOptions = {}) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const principal = match ? await authenticate(match[1]!) : undefined;
    if (principal?.kind !== 'staff') throw new AppError('UNAUTHENTICATED', { details: { reason: 'authentication_required' } });
    request.principal = principal;
    if (!principal.policyAcknowledged && !options.allowUnacknowledgedPolicy) throw new AppError('POLICY_ACKNOWLEDGEMENT_REQUIRED');
    requireStaff(principal, options.role);
  };
}

/** The signed-in staff member of a request that passed `requireStaffAuthentication`. */
export function staffOf(request: FastifyRequest): StaffPrincipal {
  if (request.principal?.kind !== 'staff') throw new AppError('UNAUTHENTICATED', { details: { reason: 'authentication_required' } });
  return request.principal;
}

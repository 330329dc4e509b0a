import { AppError } from '../lib/app-error.js';
import type { ApiKeyScope, MemberPrincipal, Principal, Role } from './principal.js';

/**
 * One declarative rule per action: which member roles, and which API-key scopes, may do it.
 * Routes call `authorize` before the use case; anything not listed is refused.
 */
const RULES = {
  'records.read': { roles: ['owner', 'admin', 'member'], scopes: ['read', 'read-write'] },
  'records.write': { roles: ['owner', 'admin', 'member'], scopes: ['read-write'] },
  'accessLog.read': { roles: ['owner', 'admin'], scopes: [] },
  'accessLog.verify': { roles: ['owner', 'admin'], scopes: [] },
  'apiKeys.manage': { roles: ['owner', 'admin'], scopes: [] },
  'tenant.settings': { roles: ['owner', 'admin'], scopes: [] },
  'members.read': { roles: ['owner', 'admin'], scopes: [] },
  'members.manage': { roles: ['owner', 'admin'], scopes: [] },
  'securityEvents.read': { roles: ['owner', 'admin'], scopes: [] },
} as const satisfies Record<string, { roles: readonly Role[]; scopes: readonly ApiKeyScope[] }>;

export type Action = keyof typeof RULES;

/** Whether a member with `role` may do `action` (for decisions about a member other than the caller). */
export function isAllowedForRole(role: Role, action: Action): boolean {
  return (RULES[action].roles as readonly Role[]).includes(role);
}

export function isAllowed(principal: Principal, action: Action): boolean {
  const rule = RULES[action];
  return principal.kind === 'member'
    ? (rule.roles as readonly Role[]).includes(principal.role)
    : (rule.scopes as readonly ApiKeyScope[]).includes(principal.scope);
}

export function authorize(principal: Principal, action: Action): void {
  if (!isAllowed(principal, action)) throw new AppError('FORBIDDEN');
}

/** For what only a signed-in person may do (their own account, factors, sessions). */
export function requireMember(principal: Principal): MemberPrincipal {
  if (principal.kind !== 'member') throw new AppError('FORBIDDEN', { message: 'This needs a signed-in user, not an API key.' });
  return principal;
}

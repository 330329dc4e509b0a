import { AppError } from '../lib/app-error.js';
import type { ApiKeyScope, MemberPrincipal, Principal, Role, StaffGrantScope, StaffPrincipal, StaffRole, TenantPrincipal } from './principal.js';

/**
 * Every authorisation decision, in one place, in the style of Outline's policies: rules are
 * registered with `allow(kind, actions, condition)`, a condition may look at the resource (the
 * tenant, or the member a change is about), and anything no rule allows is refused.
 * Routes call `authorize` before the use case; use cases call it again where the decision needs
 * what only they know (the role a member has now). Domain invariants that need a count, such as
 * "a tenant keeps one owner", stay with their use case.
 */

/** The resource of a tenant-wide action: which tenant it is done to. */
export interface TenantResource {
  tenantId: string;
}

/** A change of a member's role: what they are now and what they would become. */
export interface RoleChange extends TenantResource {
  current: Role;
  next: Role;
}

/** A member about to be removed, by the role they hold. */
export interface MemberResource extends TenantResource {
  role: Role;
}

/** An invitation about to be sent, by the role it offers. */
export interface InvitationResource extends TenantResource {
  role: Role;
}

interface Resources {
  'records.metadata': TenantResource;
  'records.read': TenantResource;
  'records.write': TenantResource;
  'staffAccess.manage': TenantResource;
  'accessLog.read': TenantResource;
  'accessLog.verify': TenantResource;
  'apiKeys.manage': TenantResource;
  'tenant.settings': TenantResource;
  'tenant.delete': TenantResource;
  'members.read': TenantResource;
  'members.manage': TenantResource;
  'securityEvents.read': TenantResource;
  'keys.read': TenantResource;
  'keys.rotate': TenantResource;
  'members.changeRole': RoleChange;
  'members.remove': MemberResource;
  'invitations.create': InvitationResource;
}

export type Action = keyof Resources;
/** The actions whose resource is just a tenant: a route can check them before the use case runs. */
export type TenantAction = { [A in Action]: Resources[A] extends TenantResource ? (TenantResource extends Resources[A] ? A : never) : never }[Action];

type PrincipalOf<K extends Principal['kind']> = Extract<Principal, { kind: K }>;
type Condition<K extends Principal['kind'], A extends Action> = (principal: PrincipalOf<K>, resource: Resources[A], now: Date) => boolean;

const rules = new Map<string, Array<(principal: Principal, resource: unknown, now: Date) => boolean>>();

function allow<K extends Principal['kind'], A extends Action>(kind: K, actions: readonly A[], condition: Condition<K, A>): void {
  for (const action of actions) {
    const key = `${kind}:${action}`;
    const rule = (principal: Principal, resource: unknown, now: Date) =>
      principal.kind === kind && condition(principal as PrincipalOf<K>, resource as Resources[A], now);
    rules.set(key, [...(rules.get(key) ?? []), rule]);
  }
}

/** Which member roles may do each tenant action. */
const ROLES: Record<TenantAction, readonly Role[]> = {
  'records.metadata': ['owner', 'admin', 'member'],
  'records.read': ['owner', 'admin', 'member'],
  'records.write': ['owner', 'admin', 'member'],
  'accessLog.read': ['owner', 'admin'],
  'accessLog.verify': ['owner', 'admin'],
  'apiKeys.manage': ['owner', 'admin'],
  'tenant.settings': ['owner', 'admin'],
  // Deleting destroys every value for good: its owners' decision alone (with a fresh sign-in check).
  'tenant.delete': ['owner'],
  'members.read': ['owner', 'admin'],
  'members.manage': ['owner', 'admin'],
  'securityEvents.read': ['owner', 'admin'],
  'keys.read': ['owner', 'admin'],
  // Rotating starts work over every value of the tenant: its owners' decision (with a fresh sign-in check).
  'keys.rotate': ['owner'],
  'staffAccess.manage': ['owner', 'admin'],
};

/** Which API-key scopes may do each tenant action (keys read and write records, nothing else). */
const SCOPES: Partial<Record<TenantAction, readonly ApiKeyScope[]>> = {
  'records.read': ['read', 'read-write'],
  'records.write': ['read-write'],
};

/** Which staff grant scopes let their holder do an action in the granted tenant. */
const GRANT_SCOPES: Partial<Record<TenantAction, readonly StaffGrantScope[]>> = {
  'records.metadata': ['metadata', 'read', 'read-write'],
  'records.read': ['read', 'read-write'],
  'records.write': ['read-write'],
};

const ownTenant = (principal: TenantPrincipal, resource: TenantResource) => principal.tenantId === resource.tenantId;
const managers: readonly Role[] = ['owner', 'admin'];

for (const action of Object.keys(ROLES) as TenantAction[]) {
  allow('member', [action], (member, tenant) => ownTenant(member, tenant) && ROLES[action].includes(member.role));
}
for (const [action, scopes] of Object.entries(SCOPES) as Array<[TenantAction, readonly ApiKeyScope[]]>) {
  allow('apiKey', [action], (key, tenant) => ownTenant(key, tenant) && scopes.includes(key.scope));
}
// Staff act on a tenant only under a live grant for that very tenant, and only within its scope.
for (const [action, scopes] of Object.entries(GRANT_SCOPES) as Array<[TenantAction, readonly StaffGrantScope[]]>) {
  allow('staff', [action], (staff, tenant, now) => hasGrant(staff, tenant.tenantId, scopes, now));
}
// Owners are changed, made and removed by owners only; admins manage admins and members.
allow('member', ['members.changeRole'], (member, change) =>
  ownTenant(member, change) && managers.includes(member.role) && (member.role === 'owner' || (change.current !== 'owner' && change.next !== 'owner')),
);
allow('member', ['members.remove'], (member, target) => ownTenant(member, target) && managers.includes(member.role) && (member.role === 'owner' || target.role !== 'owner'));
allow('member', ['invitations.create'], (member, invitation) =>
  ownTenant(member, invitation) && managers.includes(member.role) && (member.role === 'owner' || invitation.role !== 'owner'),
);

/** What a refusal says where the reason helps the caller (the generic FORBIDDEN message otherwise). */
const REFUSALS: Partial<Record<Action, string>> = {
  'members.changeRole': 'Only an owner can make or change an owner.',
  'members.remove': 'Only an owner can remove an owner.',
  'invitations.create': 'Only an owner can invite an owner.',
};

function hasGrant(staff: StaffPrincipal, tenantId: string, scopes: readonly StaffGrantScope[], now: Date): boolean {
  const grant = staff.grant;
  return grant !== undefined && grant.tenantId === tenantId && scopes.includes(grant.scope) && new Date(grant.expiresAt) > now;
}

/** The caller's own tenant: the resource of a route-level check (none for staff without a grant). */
function ownTenantOf(principal: Principal): TenantResource | undefined {
  return principal.tenantId === undefined ? undefined : { tenantId: principal.tenantId };
}

/**
 * Whether `principal` may do `action` to `resource` at `now`. Tenant actions default to the
 * principal's own tenant, which is what every public route acts on.
 */
export function isAllowed<A extends Action>(principal: Principal, action: A, ...[resource, now]: ResourceArgs<A>): boolean {
  const target = resource ?? ownTenantOf(principal);
  if (target === undefined) return false;
  return (rules.get(`${principal.kind}:${action}`) ?? []).some((rule) => rule(principal, target, now ?? new Date()));
}

type ResourceArgs<A extends Action> = A extends TenantAction ? [resource?: Resources[A], now?: Date] : [resource: Resources[A], now?: Date];

export function authorize<A extends Action>(principal: Principal, action: A, ...args: ResourceArgs<A>): void {
  if (!isAllowed(principal, action, ...args)) {
    const message = REFUSALS[action];
    throw new AppError('FORBIDDEN', message === undefined ? undefined : { message });
  }
}

/** Whether a member with `role` may do `action` (for decisions about a member other than the caller). */
export function isAllowedForRole(role: Role, action: TenantAction): boolean {
  return ROLES[action].includes(role);
}

/** For what only a signed-in person may do (their own account, factors, sessions). */
export function requireMember(principal: Principal): MemberPrincipal {
  if (principal.kind !== 'member') throw new AppError('FORBIDDEN', { message: 'This needs a signed-in user, not an API key.' });
  return principal;
}

/**
 * For staff routes: a signed-in staff member, with `role` when the action is a security-admin's
 * (publishing the staff policy, approving and reviewing break-glass, reading every staff action).
 */
export function requireStaff(principal: Principal, role?: StaffRole): StaffPrincipal {
  if (principal.kind !== 'staff') throw new AppError('FORBIDDEN');
  if (role !== undefined && principal.role !== role) throw new AppError('FORBIDDEN', { message: `This needs the ${role} role.` });
  return principal;
}

/** For tenant use cases: a member or an API key of the tenant (staff go through grants on their own listener). */
export function requireTenantPrincipal(principal: Principal): TenantPrincipal {
  if (principal.kind === 'staff') throw new AppError('FORBIDDEN');
  return principal;
}

import type { Caller } from '../core/principal.js';
import { authorize, requireMember } from '../core/policies.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { AppError, notFound } from '../lib/app-error.js';
import { readTenantSettings } from '../tenants/tenant-settings.js';
import { decisionToStaff } from './access-notices.js';
import { decidePending, findRequestIdOfGrant, findRequestRow, insertGrant, revokeLiveGrant } from './access-request-repository.js';
import { checkNote } from './access-request-rules.js';
import type { AccessGrantView, AccessRequestView } from './access-request-view.js';
import { lapsedBefore } from './access-status.js';
import { conflict } from './decision-errors.js';
import { newGrant } from './request-access.js';
import { listRequests, loadRequest, viewKeys, type ListOptions, type RequestPage } from './request-loading.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

/**
 * The customer's side of staff access (owners and admins, `staffAccess.manage`): the tenant sees
 * every request for it, approves or denies the pending ones, and revokes any live grant. Every
 * look-up is by (tenant, id): another tenant's request or grant answers 404 like a missing one.
 */

/** An owner or admin of the caller's tenant (API keys have no say over staff access). */
function managerOf(caller: Caller): { tenantId: string; by: { type: 'member'; id: string } } {
  authorize(caller.principal, 'staffAccess.manage');
  const member = requireMember(caller.principal);
  return { tenantId: member.tenantId, by: { type: 'member', id: member.userId } };
}

export function listTenantRequests(deps: StaffAccessDeps, caller: Caller, options: ListOptions): Promise<RequestPage> {
  const { tenantId } = managerOf(caller);
  return listRequests(deps, { tenantId }, options);
}

export async function listTenantGrants(deps: StaffAccessDeps, caller: Caller, options: { active?: boolean; limit: number; cursor?: string }): Promise<{ items: AccessGrantView[]; nextCursor: string | null }> {
  const { tenantId } = managerOf(caller);
  const page = await listRequests(deps, { tenantId, granted: true }, { limit: options.limit, cursor: options.cursor, status: options.active ? 'active' : undefined });
  return { items: page.items.flatMap((request) => (request.grant ? [request.grant] : [])), nextCursor: page.nextCursor };
}

/** Approves a pending request of this tenant (not break-glass: a second security-admin activates those). The grant starts now. */
export async function approveForTenant(deps: StaffAccessDeps, caller: Caller, id: string): Promise<AccessRequestView> {
  const { tenantId, by } = managerOf(caller);
  const { db, transactions, clock, securityEvents } = deps;
  const row = await findRequestRow(db, id, { tenantId });
  if (!row) throw notFound();
  if (row.break_glass) throw conflict('break_glass', 'A break-glass request is activated by a second security-admin of the operator; you can deny it, or revoke its grant.');
  if (row.staff_disabled_at !== null) throw conflict('staff_disabled', 'The staff member who asked has been disabled.');
  const settings = await readTenantSettings(db, tenantId);
  // Choosing `deny` denied every pending request; one approved in the same moment finds none left.
  if (settings.staffAccess === 'deny') throw new AppError('STAFF_ACCESS_DENIED', { message: 'This tenant does not allow staff access: choose another staffAccess mode first.' });
  const now = clock.now();
  const grant = newGrant(row, now, settings.staffAccessMaxMinutes);
  const keys = await viewKeys(deps, tenantId);
  const view = await transactions.run(async (trx) => {
    const decision = { status: 'active' as const, at: now.toISOString(), byType: by.type, by: by.id, reasonEnc: null };
    if (!(await decidePending(trx, id, decision, lapsedBefore(now).toISOString()))) throw conflict('not_pending', 'This request is no longer pending: it was decided or has lapsed.');
    await insertGrant(trx, grant);
    const approved = await loadRequest(trx, deps, id, { tenantId }, keys);
    await decisionToStaff(trx, deps, 'approved', approved);
    return approved;
  });
  securityEvents.record({ type: 'staff.access.approved', outcome: 'success', tenantId, actor: by, ip: caller.ip, details: { requestId: id, grantId: grant.id, staffId: row.staff_id, expiresAt: grant.expires_at } });
  return view;
}

/** Denies a pending request of this tenant, with an optional reason the staff member can read. */
export async function denyForTenant(deps: StaffAccessDeps, caller: Caller, id: string, input: { reason?: string }): Promise<AccessRequestView> {
  const { tenantId, by } = managerOf(caller);
  const { db, transactions, clock, securityEvents } = deps;
  const reason = checkNote(input.reason, 'reason');
  const row = await findRequestRow(db, id, { tenantId });
  if (!row) throw notFound();
  const now = clock.now();
  const keys = await viewKeys(deps, tenantId);
  const reasonEnc = reason === null ? null : keys.tenantCipher.encrypt(reason, ENCRYPTED_FIELDS.accessRequestsDecisionReason.location({ id }));
  const view = await transactions.run(async (trx) => {
    const decision = { status: 'denied' as const, at: now.toISOString(), byType: by.type, by: by.id, reasonEnc };
    if (!(await decidePending(trx, id, decision, lapsedBefore(now).toISOString()))) throw conflict('not_pending', 'This request is no longer pending: it was decided or has lapsed.');
    const denied = await loadRequest(trx, deps, id, { tenantId }, keys);
    await decisionToStaff(trx, deps, 'denied', denied);
    return denied;
  });
  securityEvents.record({ type: 'staff.access.denied', outcome: 'success', tenantId, actor: by, ip: caller.ip, details: { requestId: id, staffId: row.staff_id, breakGlass: Boolean(row.break_glass) } });
  return view;
}

/** Ends a live grant of this tenant now: the staff member's very next request is refused (the grant check reads it). */
export async function revokeForTenant(deps: StaffAccessDeps, caller: Caller, grantId: string): Promise<AccessGrantView> {
  const { tenantId, by } = managerOf(caller);
  const { db, transactions, clock, securityEvents } = deps;
  const requestId = await findRequestIdOfGrant(db, grantId, { tenantId });
  if (requestId === undefined) throw notFound();
  const now = clock.now().toISOString();
  const keys = await viewKeys(deps, tenantId);
  const view = await transactions.run(async (trx) => {
    if (!(await revokeLiveGrant(trx, grantId, by, now))) throw conflict('grant_not_active', 'This grant has already ended (revoked or expired).');
    const revoked = await loadRequest(trx, deps, requestId, { tenantId }, keys);
    await decisionToStaff(trx, deps, 'revoked', revoked);
    return revoked;
  });
  securityEvents.record({ type: 'staff.access.revoked', outcome: 'success', tenantId, actor: by, ip: caller.ip, details: { requestId, grantId, staffId: view.staff.id } });
  return view.grant!;
}

import { actorOf, type StaffPrincipal } from '../core/principal.js';
import { requireStaff } from '../core/policies.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { AppError, notFound } from '../lib/app-error.js';
import { decisionToStaff, noticeToTenant } from './access-notices.js';
import { decidePending, findRequestRow, insertGrant, markReviewed } from './access-request-repository.js';
import { checkNote } from './access-request-rules.js';
import type { AccessRequestView } from './access-request-view.js';
import { lapsedBefore } from './access-status.js';
import { conflict } from './decision-errors.js';
import { newGrant } from './request-access.js';
import { loadRequest, viewKeys } from './request-loading.js';
import type { StaffAccessDeps } from './staff-access-deps.js';
import { readTenantSettings } from '../tenants/tenant-settings.js';

/**
 * The two-person rule for break-glass (SECURITY-CRITERIA 2.3.5): it skips the tenant's approval,
 * so another security-admin — never the requester — must approve it, and one must review it after.
 */
function ownRequest(action: string): AppError {
  return new AppError('FORBIDDEN', { message: `A different security-admin must ${action} a break-glass request than the one who made it.`, details: { reason: 'own_request' } });
}

async function breakGlassRow(deps: StaffAccessDeps, admin: StaffPrincipal, id: string, action: string) {
  requireStaff(admin, 'security-admin');
  const row = await findRequestRow(deps.db, id);
  if (!row) throw notFound();
  if (!row.break_glass) throw conflict('not_break_glass', 'Only break-glass requests are approved and reviewed here; the tenant decides the others.');
  if (row.staff_id === admin.staffId) throw ownRequest(action);
  return row;
}

/** A second security-admin activates a pending break-glass request: the grant starts now and the tenant is told again. */
export async function approveBreakGlass(deps: StaffAccessDeps, admin: StaffPrincipal, ip: string, id: string): Promise<AccessRequestView> {
  const { transactions, clock, securityEvents } = deps;
  const row = await breakGlassRow(deps, admin, id, 'approve');
  if (row.staff_disabled_at !== null) throw conflict('staff_disabled', 'The staff member who asked has been disabled.');
  // The tenant may have chosen `deny` since the request was made: break-glass never overrides it.
  const settings = await readTenantSettings(deps.db, row.tenant_id);
  if (settings.staffAccess === 'deny') {
    securityEvents.record({ type: 'staff.access.refused', outcome: 'refused', tenantId: row.tenant_id, actor: actorOf(admin), ip, details: { requestId: id, breakGlass: true, mode: 'deny' } });
    throw new AppError('STAFF_ACCESS_DENIED');
  }
  const now = clock.now();
  const grant = newGrant(row, now, settings.staffAccessMaxMinutes);
  const keys = await viewKeys(deps, row.tenant_id);
  const view = await transactions.run(async (trx) => {
    const decision = { status: 'active' as const, at: now.toISOString(), byType: 'staff' as const, by: admin.staffId, reasonEnc: null };
    if (!(await decidePending(trx, id, decision, lapsedBefore(now).toISOString()))) throw conflict('not_pending', 'This request is no longer pending.');
    await insertGrant(trx, grant);
    const approved = await loadRequest(trx, deps, id, {}, keys);
    await noticeToTenant(trx, deps, keys, 'break_glass_active', approved);
    await decisionToStaff(trx, deps, 'break_glass_approved', approved);
    return approved;
  });
  securityEvents.record({
    type: 'staff.access.approved',
    outcome: 'success',
    tenantId: row.tenant_id,
    actor: actorOf(admin),
    ip,
    details: { requestId: id, grantId: grant.id, breakGlass: true, requestedBy: row.staff_id, expiresAt: grant.expires_at },
  });
  return view;
}

/**
 * A security-admin records the review of an activated break-glass access, which clears the
 * grant's `reviewRequired`. The requester may not review their own: the review is the second
 * look at what an emergency access did, and marking one's own homework would defeat it.
 */
export async function reviewBreakGlass(deps: StaffAccessDeps, admin: StaffPrincipal, ip: string, id: string, input: { notes: string }): Promise<AccessRequestView> {
  const { transactions, clock, securityEvents } = deps;
  const row = await breakGlassRow(deps, admin, id, 'review');
  if (row.grant_id === null) throw conflict('not_granted', 'Only a break-glass request that was activated can be reviewed.');
  const notes = checkNote(input.notes, 'notes');
  if (notes === null) throw new AppError('VALIDATION_FAILED', { message: 'Write what the review found.', details: { field: 'notes', reason: 'empty' } });
  const keys = await viewKeys(deps, row.tenant_id);
  const now = clock.now().toISOString();
  const notesEnc = keys.tenantCipher.encrypt(notes, ENCRYPTED_FIELDS.accessRequestsReviewNotes.location({ id }));
  const view = await transactions.run(async (trx) => {
    if (!(await markReviewed(trx, id, { at: now, by: admin.staffId, notesEnc }))) throw conflict('already_reviewed', 'This break-glass access has already been reviewed.');
    return loadRequest(trx, deps, id, {}, keys);
  });
  securityEvents.record({ type: 'staff.access.reviewed', outcome: 'success', tenantId: row.tenant_id, actor: actorOf(admin), ip, details: { requestId: id, grantId: row.grant_id } });
  return view;
}

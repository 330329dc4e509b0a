import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { AccessJustification, AccessScope, AccessRequestsTable } from '../db/staff-schema.js';
import { actorOf, type StaffPrincipal } from '../core/principal.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { KeyedLock } from '../lib/keyed-lock.js';
import { addSeconds } from '../lib/time.js';
import { readTenantSettings, type StaffAccessMode } from '../tenants/tenant-settings.js';
import { tenantExists } from '../tenants/tenant-repository.js';
import { noticeToTenant } from './access-notices.js';
import { insertGrant, insertRequest, openRequestCounts, type StatusClock } from './access-request-repository.js';
import { checkBreakGlass, checkDuration, checkReason, checkTicket, MAX_PENDING_REQUESTS_PER_STAFF } from './access-request-rules.js';
import type { AccessRequestView } from './access-request-view.js';
import { statusClock } from './access-status.js';
import { loadRequest, viewKeys } from './request-loading.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

export interface NewAccessRequest {
  tenantId: string;
  scope: AccessScope;
  justification: AccessJustification;
  reason: string;
  ticket?: string;
  durationMinutes: number;
  breakGlass?: boolean;
}

/**
 * One staff member's requests are created one at a time in this process: the caps below are
 * counted, then the row is written, and parallel requests must not all count the same room left.
 */
const creating = new KeyedLock();

/**
 * A staff member asks for access to a tenant. What happens depends on the tenant's mode:
 * `approval_required` waits for an owner or admin; `notify` is granted at once and the tenant is
 * told; `deny` refuses (break-glass too) and stores nothing but a security event. Break-glass
 * skips the tenant's approval but waits for a second security-admin.
 */
export async function requestAccess(deps: StaffAccessDeps, staff: StaffPrincipal, ip: string, input: NewAccessRequest): Promise<AccessRequestView> {
  const { db, securityEvents } = deps;
  const reason = checkReason(input.reason);
  const ticket = checkTicket(input.ticket);
  const breakGlass = input.breakGlass ?? false;
  checkBreakGlass(breakGlass, input.justification);
  // Tenant ids are not secret from staff (they come from tickets): an unknown one is plainly 404.
  if (!(await tenantExists(db, input.tenantId))) throw notFound();
  const settings = await readTenantSettings(db, input.tenantId);
  const summary = { scope: input.scope, justification: input.justification, breakGlass, mode: settings.staffAccess };
  if (settings.staffAccess === 'deny') {
    securityEvents.record({ type: 'staff.access.refused', outcome: 'refused', tenantId: input.tenantId, actor: actorOf(staff), ip, details: summary });
    throw new AppError('STAFF_ACCESS_DENIED');
  }
  checkDuration(input.durationMinutes, settings.staffAccessMaxMinutes);

  const view = await creating.run([staff.staffId], () => createRequest(deps, staff, { ...input, reason, ticket, breakGlass }, settings.staffAccess));
  securityEvents.record({ type: 'staff.access.requested', outcome: 'success', tenantId: input.tenantId, actor: actorOf(staff), ip, details: { requestId: view.id, ...summary } });
  if (view.grant) {
    securityEvents.record({
      type: 'staff.access.approved',
      outcome: 'success',
      tenantId: input.tenantId,
      actor: { type: 'system', id: 'notify' },
      details: { requestId: view.id, grantId: view.grant.id, by: 'notify_mode', expiresAt: view.grant.expiresAt },
    });
  }
  return view;
}

type CheckedRequest = Omit<NewAccessRequest, 'ticket' | 'breakGlass'> & { ticket: string | null; breakGlass: boolean };

async function createRequest(deps: StaffAccessDeps, staff: StaffPrincipal, input: CheckedRequest, mode: StaffAccessMode): Promise<AccessRequestView> {
  const { transactions, clock } = deps;
  const now = clock.now();
  const keys = await viewKeys(deps, input.tenantId);
  const id = newId();
  // Notify mode grants at once; break-glass never does (a second security-admin must approve it).
  const immediate = mode === 'notify' && !input.breakGlass;
  const seal = (field: 'accessRequestsReason' | 'accessRequestsTicket', value: string) => keys.tenantCipher.encrypt(value, ENCRYPTED_FIELDS[field].location({ id }));
  const row: AccessRequestsTable = {
    id,
    tenant_id: input.tenantId,
    staff_id: staff.staffId,
    scope: input.scope,
    justification: input.justification,
    reason_enc: seal('accessRequestsReason', input.reason),
    ticket_enc: input.ticket === null ? null : seal('accessRequestsTicket', input.ticket),
    duration_minutes: input.durationMinutes,
    break_glass: input.breakGlass ? 1 : 0,
    status: immediate ? 'active' : 'pending',
    created_at: now.toISOString(),
    decided_at: immediate ? now.toISOString() : null,
    decided_by_type: immediate ? 'system' : null,
    decided_by: immediate ? 'notify' : null,
    decision_reason_enc: null,
    reviewed_at: null,
    reviewed_by: null,
    review_notes_enc: null,
  };
  return transactions.run(async (trx) => {
    // The mode decides what the request becomes: read again where the request is written, so a
    // tenant switching at the same moment is not overtaken by what was read before.
    const settings = await readTenantSettings(trx, input.tenantId);
    if (settings.staffAccess !== mode) throw modeChanged();
    await assertWithinLimits(trx, staff.staffId, input.tenantId, statusClock(now));
    await insertRequest(trx, row);
    if (immediate) await insertGrant(trx, newGrant(row, now, settings.staffAccessMaxMinutes));
    const view = await loadRequest(trx, deps, id, {}, keys);
    await noticeToTenant(trx, deps, keys, input.breakGlass ? 'break_glass_requested' : immediate ? 'granted' : 'pending', view);
    return view;
  });
}

/**
 * The grant an approved request becomes: it starts now (not when it was asked for) and lasts the
 * duration asked, but never longer than the tenant's `staffAccessMaxMinutes` now (it may have
 * been lowered while the request waited).
 */
export function newGrant(
  request: Pick<AccessRequestsTable, 'id' | 'tenant_id' | 'staff_id' | 'scope' | 'justification' | 'break_glass' | 'duration_minutes'>,
  now: Date,
  maxMinutes: number,
) {
  const minutes = Math.min(Number(request.duration_minutes), maxMinutes);
  return {
    id: newId(),
    request_id: request.id,
    tenant_id: request.tenant_id,
    staff_id: request.staff_id,
    scope: request.scope,
    justification: request.justification,
    break_glass: Number(request.break_glass),
    starts_at: now.toISOString(),
    expires_at: addSeconds(now, minutes * 60).toISOString(),
    revoked_at: null,
    revoked_by_type: null,
    revoked_by: null,
  };
}

function modeChanged(): AppError {
  return new AppError('CONFLICT', { message: 'The tenant changed how staff may reach it while you asked; ask again.', details: { reason: 'mode_changed' } });
}

async function assertWithinLimits(trx: Kysely<DB>, staffId: string, tenantId: string, at: StatusClock): Promise<void> {
  const counts = await openRequestCounts(trx, staffId, tenantId, at);
  if (counts.openForTenant > 0) {
    throw new AppError('LIMIT_REACHED', {
      message: 'You already have a pending or active request for this tenant: wait for its decision or its end.',
      details: { resource: 'open_access_requests_per_tenant', limit: 1 },
    });
  }
  if (counts.pending >= MAX_PENDING_REQUESTS_PER_STAFF) {
    throw new AppError('LIMIT_REACHED', {
      message: `You have ${MAX_PENDING_REQUESTS_PER_STAFF} pending requests: wait for decisions before asking for more.`,
      details: { resource: 'pending_access_requests', limit: MAX_PENDING_REQUESTS_PER_STAFF },
    });
  }
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { openUserEmail } from '../identity/user-repository.js';
import type { StaffAccessDecision } from '../mail/templates/staff-access-decision.js';
import type { StaffAccessNoticeKind } from '../mail/templates/staff-access-notice.js';
import { findTenantName } from '../tenants/tenant-repository.js';
import { tenantManagers } from './access-request-repository.js';
import type { AccessRequestView, ViewKeys } from './access-request-view.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

/**
 * The mails of the request lifecycle, queued inside the transaction that makes the change (so a
 * mail exists exactly when its change commits; delivery starts after the commit).
 */

/** Tells each owner and admin of the request's tenant (pending request, notify-mode grant, break-glass). */
export async function noticeToTenant(trx: Kysely<DB>, deps: StaffAccessDeps, keys: ViewKeys, kind: StaffAccessNoticeKind, request: AccessRequestView): Promise<void> {
  const { mail, config } = deps;
  const organization = (await findTenantName(trx, request.tenantId, keys.tenantCipher)) ?? 'your organisation';
  const data = {
    kind,
    organization,
    tenantId: request.tenantId,
    requestId: request.id,
    grantId: request.grant?.id,
    staffEmail: request.staff.email,
    scope: request.scope,
    justification: request.justification,
    reason: request.reason,
    ticket: request.ticket,
    durationMinutes: request.durationMinutes,
    expiresAt: request.grant?.expiresAt,
    publicUrl: config.publicUrl,
  };
  for (const manager of await tenantManagers(trx, request.tenantId)) {
    await mail.send(trx, 'staff-access-notice', openUserEmail(keys.systemCipher, manager.userId, manager.emailEnc), data);
  }
}

/** Tells the staff member what became of their request. */
export async function decisionToStaff(trx: Kysely<DB>, deps: StaffAccessDeps, decision: StaffAccessDecision, request: AccessRequestView): Promise<void> {
  await deps.mail.send(trx, 'staff-access-decision', request.staff.email, {
    decision,
    tenantId: request.tenantId,
    requestId: request.id,
    scope: request.scope,
    expiresAt: decision === 'approved' || decision === 'break_glass_approved' ? request.grant?.expiresAt : undefined,
  });
}

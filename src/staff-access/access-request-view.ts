import type { AccessJustification, AccessScope } from '../db/staff-schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import type { RequestRow } from './access-request-repository.js';
import { grantStatus, requestStatus, type AccessStatus, type GrantStatus } from './access-status.js';

/** Who decided, revoked or reviewed: a tenant member, a staff member (break-glass), or the system (notify mode). */
export interface DeciderView {
  type: string;
  id: string;
}

export interface AccessGrantView {
  id: string;
  requestId: string;
  tenantId: string;
  staff: { id: string; email: string };
  scope: AccessScope;
  justification: AccessJustification;
  reason: string;
  ticket: string | null;
  breakGlass: boolean;
  startsAt: string;
  expiresAt: string;
  revokedAt?: string;
  revokedBy?: DeciderView;
  status: GrantStatus;
  /** A break-glass grant stays flagged until a security-admin records a review. */
  reviewRequired: boolean;
}

export interface AccessRequestView {
  id: string;
  tenantId: string;
  staff: { id: string; email: string };
  scope: AccessScope;
  justification: AccessJustification;
  reason: string;
  ticket: string | null;
  durationMinutes: number;
  breakGlass: boolean;
  status: AccessStatus;
  createdAt: string;
  decidedAt?: string;
  decidedBy?: DeciderView;
  decisionReason?: string;
  reviewedAt?: string;
  reviewedBy?: DeciderView;
  reviewNotes?: string;
  grant?: AccessGrantView;
}

/** The keys a view needs: the tenant's (what people wrote) and the system's (the staff e-mail address). */
export interface ViewKeys {
  tenantCipher: Cipher;
  systemCipher: Cipher;
}

function open(cipher: Cipher, sealed: string | null, field: 'accessRequestsReason' | 'accessRequestsTicket' | 'accessRequestsDecisionReason' | 'accessRequestsReviewNotes', id: string) {
  return sealed === null ? null : cipher.decrypt(sealed, ENCRYPTED_FIELDS[field].location({ id }));
}

export function toRequestView(row: RequestRow, keys: ViewKeys, now: Date): AccessRequestView {
  const { tenantCipher } = keys;
  const staff = { id: row.staff_id, email: keys.systemCipher.decrypt(row.staff_email_enc, ENCRYPTED_FIELDS.staffEmail.location({ id: row.staff_id })) };
  const reason = open(tenantCipher, row.reason_enc, 'accessRequestsReason', row.id) ?? '';
  const ticket = open(tenantCipher, row.ticket_enc, 'accessRequestsTicket', row.id);
  const grant = grantOf(row);
  const view: AccessRequestView = {
    id: row.id,
    tenantId: row.tenant_id,
    staff,
    scope: row.scope,
    justification: row.justification,
    reason,
    ticket,
    durationMinutes: Number(row.duration_minutes),
    breakGlass: Boolean(row.break_glass),
    status: requestStatus({ status: row.status, createdAt: row.created_at, grant }, now),
    createdAt: row.created_at,
  };
  if (row.decided_at !== null) view.decidedAt = row.decided_at;
  if (row.decided_by_type !== null && row.decided_by !== null) view.decidedBy = { type: row.decided_by_type, id: row.decided_by };
  const decisionReason = open(tenantCipher, row.decision_reason_enc, 'accessRequestsDecisionReason', row.id);
  if (decisionReason !== null) view.decisionReason = decisionReason;
  if (row.reviewed_at !== null) view.reviewedAt = row.reviewed_at;
  if (row.reviewed_by !== null) view.reviewedBy = { type: 'staff', id: row.reviewed_by };
  const notes = open(tenantCipher, row.review_notes_enc, 'accessRequestsReviewNotes', row.id);
  if (notes !== null) view.reviewNotes = notes;
  if (grant !== null) view.grant = toGrantView(view, grant, row, now);
  return view;
}

function grantOf(row: RequestRow): { id: string; startsAt: string; expiresAt: string; revokedAt: string | null } | null {
  if (row.grant_id === null || row.grant_starts_at === null || row.grant_expires_at === null) return null;
  return { id: row.grant_id, startsAt: row.grant_starts_at, expiresAt: row.grant_expires_at, revokedAt: row.grant_revoked_at };
}

function toGrantView(request: AccessRequestView, grant: NonNullable<ReturnType<typeof grantOf>>, row: RequestRow, now: Date): AccessGrantView {
  const view: AccessGrantView = {
    id: grant.id,
    requestId: request.id,
    tenantId: request.tenantId,
    staff: request.staff,
    scope: request.scope,
    justification: request.justification,
    reason: request.reason,
    ticket: request.ticket,
    breakGlass: request.breakGlass,
    startsAt: grant.startsAt,
    expiresAt: grant.expiresAt,
    status: grantStatus(grant, now),
    reviewRequired: request.breakGlass && row.reviewed_at === null,
  };
  if (grant.revokedAt !== null) view.revokedAt = grant.revokedAt;
  if (row.grant_revoked_by_type !== null && row.grant_revoked_by !== null) view.revokedBy = { type: row.grant_revoked_by_type, id: row.grant_revoked_by };
  return view;
}

import { Type } from 'typebox';
import { STAFF_ACCESS_MAX_MINUTES } from '../tenants/tenant-settings.js';
import { MAX_PENDING_REQUESTS_PER_STAFF, NOTES_MAX_LENGTH, PENDING_REQUEST_HOURS, REASON_MAX_LENGTH, REASON_MIN_LENGTH, TICKET_MAX_LENGTH } from './access-request-rules.js';

/** The request and grant shapes of API.md ("Staff access"), shared by the admin and the public routes. */

export const Scope = Type.Union([Type.Literal('metadata'), Type.Literal('read'), Type.Literal('read-write')], { description: 'metadata < read < read-write' });
export const Justification = Type.Union([
  Type.Literal('CUSTOMER_INITIATED_SUPPORT'),
  Type.Literal('INCIDENT_RESPONSE'),
  Type.Literal('SECURITY_INVESTIGATION'),
  Type.Literal('LEGAL_REQUIREMENT'),
]);
const statusLiterals = () => [Type.Literal('pending'), Type.Literal('active'), Type.Literal('denied'), Type.Literal('expired'), Type.Literal('revoked')] as const;
export const Status = Type.Union([...statusLiterals()]);
const Party = Type.Object({ type: Type.String({ description: '`member` (a tenant owner or admin), `staff` (a security-admin) or `system` (notify mode)' }), id: Type.String() });
const Staff = Type.Object({ id: Type.String(), email: Type.String() });

export const Grant = Type.Object({
  id: Type.String(),
  requestId: Type.String(),
  tenantId: Type.String(),
  staff: Staff,
  scope: Scope,
  justification: Justification,
  reason: Type.String(),
  ticket: Type.Union([Type.String(), Type.Null()]),
  breakGlass: Type.Boolean(),
  startsAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Optional(Type.String({ format: 'date-time' })),
  revokedBy: Type.Optional(Party),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')], { description: 'derived: active until it expires or is revoked' }),
  reviewRequired: Type.Boolean({ description: 'a break-glass grant stays flagged until a security-admin records a review' }),
});

export const Request = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  staff: Staff,
  scope: Scope,
  justification: Justification,
  reason: Type.String(),
  ticket: Type.Union([Type.String(), Type.Null()]),
  durationMinutes: Type.Integer(),
  breakGlass: Type.Boolean(),
  status: Type.Union([...statusLiterals()], {
    description: `derived: \`pending\` (lapses to \`expired\` after ${PENDING_REQUEST_HOURS} h undecided), \`active\`, \`denied\`, \`expired\` or \`revoked\` (by the grant)`,
  }),
  createdAt: Type.String({ format: 'date-time' }),
  decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
  decidedBy: Type.Optional(Party),
  decisionReason: Type.Optional(Type.String()),
  reviewedAt: Type.Optional(Type.String({ format: 'date-time' })),
  reviewedBy: Type.Optional(Party),
  reviewNotes: Type.Optional(Type.String()),
  grant: Type.Optional(Grant),
});

export const RequestPage = Type.Object({ items: Type.Array(Request), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const GrantPage = Type.Object({ items: Type.Array(Grant), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const Paging = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
};

export const NewRequestBody = Type.Object(
  {
    tenantId: Type.String({ format: 'uuid' }),
    scope: Scope,
    justification: Justification,
    reason: Type.String({ maxLength: REASON_MAX_LENGTH, description: `at least ${REASON_MIN_LENGTH} characters of real words: why, for the tenant to read` }),
    ticket: Type.Optional(Type.String({ maxLength: TICKET_MAX_LENGTH })),
    durationMinutes: Type.Integer({ minimum: STAFF_ACCESS_MAX_MINUTES.min, maximum: STAFF_ACCESS_MAX_MINUTES.max, description: 'at most the tenant’s staffAccessMaxMinutes (default 120, never over 480)' }),
    breakGlass: Type.Optional(Type.Boolean({ description: 'only with INCIDENT_RESPONSE or SECURITY_INVESTIGATION' })),
  },
  { additionalProperties: false },
);

export const ReviewBody = Type.Object({ notes: Type.String({ minLength: 1, maxLength: NOTES_MAX_LENGTH }) }, { additionalProperties: false });
export const DenyBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: NOTES_MAX_LENGTH })) }, { additionalProperties: false });

export const CREATE_DESCRIPTION =
  'The tenant’s mode decides: `approval_required` → 201 `pending` (the tenant’s owners and admins are e-mailed); `notify` → 201 `active` at once with a grant ' +
  'starting now (they are e-mailed); `deny` → 403 STAFF_ACCESS_DENIED, nothing stored but a security event. `breakGlass` (INCIDENT_RESPONSE or ' +
  'SECURITY_INVESTIGATION only; never in `deny` mode) skips the tenant’s approval, e-mails the tenant at once, and stays `pending` until a different ' +
  'security-admin approves it. An unknown tenant id answers 404 (tenant ids are not secret from staff). Bounds: at most one pending or active request ' +
  `per tenant per staff member, and at most ${MAX_PENDING_REQUESTS_PER_STAFF} pending requests per staff member (409 LIMIT_REACHED, \`details.resource\`); ` +
  `a request nobody decides lapses after ${PENDING_REQUEST_HOURS} hours (status \`expired\`).`;

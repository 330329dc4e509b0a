/**
 * Every error code Confide answers with, its HTTP status, its default public message and, where
 * one code covers several cases, the stable `details.reason` of each (snake_case; clients branch
 * on these, people read the message). This is the one catalogue: `docs/errors.md` documents the
 * same codes and reasons, and tests keep the two in step and every reason thrown in `src/` listed here.
 */
export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, message: 'The request could not be understood.' },
  VALIDATION_FAILED: {
    status: 400,
    message: 'The request is not valid.',
    // Also, for a field the request schema refuses, the JSON Schema keyword that failed (`type`, `pattern`, `maxLength`, …).
    reasons: [
      'unknown_field',
      'missing',
      'empty',
      'control_characters',
      'too_short',
      'too_long',
      'too_common',
      'contains_context',
      'too_deep',
      'number_out_of_range',
      'not_meaningful',
      'over_tenant_maximum',
      'justification_not_allowed',
      'confirmation_mismatch',
    ],
  },
  UNAUTHENTICATED: {
    status: 401,
    message: 'Authentication is required.',
    reasons: [
      'authentication_required',
      'account_unavailable',
      'invalid_credentials',
      'wrong_password',
      'wrong_password_or_code',
      'wrong_code',
      'code_already_used',
      'invalid_challenge',
      'invalid_token',
    ],
  },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.', reasons: ['own_request'] },
  REAUTHENTICATION_REQUIRED: {
    status: 403,
    message: 'Confirm it is you: send your password or a current code with this request.',
  },
  EMAIL_NOT_VERIFIED: {
    status: 403,
    message: 'Confirm your e-mail address first: follow the link we sent you (POST /v1/email-verifications sends a new one).',
  },
  MFA_REQUIRED: {
    status: 403,
    message: 'Your organisation requires a second factor: set one up before doing anything else.',
  },
  POLICY_ACKNOWLEDGEMENT_REQUIRED: {
    status: 403,
    message: 'Read and acknowledge the current staff policy first (GET /admin/v1/staff-policy).',
  },
  GRANT_REQUIRED: {
    status: 403,
    message: 'This needs an active access grant for this tenant with enough scope.',
  },
  STAFF_ACCESS_DENIED: {
    status: 403,
    message: 'This tenant does not allow staff access.',
  },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here.' },
  // Only a session from a restored copy of the database can still name a deleted tenant: its key is destroyed, its data unreadable for good.
  TENANT_DELETED: { status: 410, message: 'This tenant was deleted: its keys were destroyed and its data can no longer be read.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time.' },
  CONFLICT: {
    status: 409,
    message: 'The request conflicts with the current state.',
    reasons: [
      'email_taken',
      'already_member',
      'already_verified',
      'version_mismatch',
      'last_owner',
      'totp_already_active',
      'no_pending_totp',
      'no_passkey',
      'second_factor_required',
      'last_required_factor',
      'already_disabled',
      'mode_changed',
      'not_pending',
      'break_glass',
      'not_break_glass',
      'not_granted',
      'already_reviewed',
      'grant_not_active',
      'staff_disabled',
      'alert_not_open',
      'alert_resolved',
    ],
  },
  LIMIT_REACHED: { status: 409, message: 'A limit on how many of these may exist has been reached.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  URI_TOO_LONG: { status: 414, message: 'The URL is too long.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later.' },
  AUDIT_UNAVAILABLE: {
    status: 503,
    message: 'The access log cannot be written, so the data is not served.',
    reasons: ['storage_full', 'storage_failed', 'database_unavailable'],
  },
  UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable.', reasons: ['storage_full', 'storage_failed', 'database_unavailable'] },
  INTERNAL: { status: 500, message: 'Something went wrong on our side.', reasons: ['file_integrity'] },
} as const satisfies Record<string, { status: number; message: string; reasons?: readonly string[] }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * Every security event type Confide records, with what it means. This is the one list: the
 * `SecurityEvent.type` union is built from it, `docs/security-events.md` documents it (a test keeps
 * the two in step), and monitoring rules match on these names. A new event is one line here.
 */
export const SECURITY_EVENT_TYPES = {
  'signin.password': 'a sign-in with e-mail and password succeeded (no second factor needed) or failed',
  'signin.mfa': 'the second step of a sign-in (TOTP, passkey or recovery code, in `details.method`) succeeded or failed',
  'tenant.created': 'a sign-up created a tenant and its owner',
  'email.verification.sent': 'a signed-in user asked for a new e-mail verification link',
  'email.verified': 'a user confirmed their e-mail address with a link token',
  'password.reset.requested': 'a password reset link was asked for: sent, or refused (unknown account, too many)',
  'password.reset.completed': 'a password was set with a reset link; every session of the user ended',
  'password.changed': 'a signed-in user changed their password, or gave a wrong current password',
  'mfa.totp.enabled': 'an authenticator app was confirmed as a second factor',
  'mfa.totp.removed': 'the authenticator app was removed',
  'mfa.totp.replay': 'a TOTP code whose time step was already used was offered again',
  'mfa.passkey.added': 'a passkey was registered as a second factor',
  'mfa.passkey.removed': 'a passkey was removed',
  'mfa.recoveryCodes.regenerated': 'new recovery codes replaced the old ones',
  'mfa.recoveryCode.used': 'a recovery code was used to sign in',
  'apiKey.created': 'an API key was created',
  'apiKey.revoked': 'an API key was revoked',
  'member.invited': 'an invitation was sent',
  'member.invitation.revoked': 'a pending invitation was withdrawn',
  'member.joined': 'an invitation was accepted: a new or existing user joined the tenant',
  'member.role.changed': 'a member’s role changed (the API keys they may no longer manage are revoked and listed)',
  'member.removed': 'a member was removed (their API keys are revoked and listed)',
  'tenant.settings.changed': 'a tenant setting changed (`details.changes`)',
  'staff.added': 'an operator added a staff member from the host (`confide staff add`)',
  'staff.disabled': 'an operator disabled a staff member: their sessions and grants ended at once',
  'staff.enrolled': 'a staff member completed enrolment (password and authenticator app), or offered a wrong first code',
  'staff.signin.password': 'the first step of a staff sign-in (password) succeeded or failed',
  'staff.signin.mfa': 'the second step of a staff sign-in (TOTP or recovery code, in `details.method`) succeeded or failed',
  'staff.session.refused': 'a request came with a session token of a disabled staff member (answered 401: disabling ended the session)',
  'staff.policy.published': 'a security-admin published a new version of the internal staff policy',
  'staff.policy.acknowledged': 'a staff member acknowledged a version of the internal staff policy',
  'staff.access.requested': 'a staff member asked for access to a tenant (`details`: request, scope, justification, break-glass, the tenant’s mode)',
  'staff.access.refused': 'a staff access request was refused because the tenant denies staff access',
  'staff.access.approved': 'an access request was approved (by a tenant owner or admin, by notify mode, or by a second security-admin for break-glass)',
  'staff.access.denied': 'a tenant owner or admin denied an access request',
  'staff.access.revoked': 'a grant was revoked (by the tenant, or when its staff member was disabled)',
  'staff.access.reviewed': 'a security-admin recorded the review of a break-glass access',
  'staff.grant.used': 'a staff member reached tenant data under a grant (`details`: `grantId`, `scope`, `justification`, `action`, `resource`, `collection`, `id`)',
  'staff.grant.refused': 'a staff data request was refused: no active grant of enough scope for that tenant (`details`: `method`, `route`, the `scope` needed, `why`: none, pending, denied, expired, revoked, scope, disabled or tenant_denies)',
  'authorization.denied': 'a request was refused with 403 (`details.code`: role or scope, unverified address, missing second factor, …)',
} as const satisfies Record<string, string>;

export type SecurityEventType = keyof typeof SECURITY_EVENT_TYPES;

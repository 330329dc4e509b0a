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
  'authorization.denied': 'a request was refused with 403 (`details.code`: role or scope, unverified address, missing second factor, …)',
} as const satisfies Record<string, string>;

export type SecurityEventType = keyof typeof SECURITY_EVENT_TYPES;

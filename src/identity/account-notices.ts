import type { SecurityEventType } from '../core/security-event-types.js';
import type { AccountChange } from '../mail/templates/account-change.js';

export type { AccountChange } from '../mail/templates/account-change.js';

/**
 * The changes to an account's second factors that its user is told about by e-mail (ASVS 6.3.7,
 * the `account-change` mail template), and the security event each records
 * (`GET /v1/security-events?type=…`).
 */
export const ACCOUNT_CHANGE_EVENTS: Record<AccountChange, SecurityEventType> = {
  totp_enabled: 'mfa.totp.enabled',
  totp_removed: 'mfa.totp.removed',
  passkey_added: 'mfa.passkey.added',
  passkey_removed: 'mfa.passkey.removed',
  recovery_codes_regenerated: 'mfa.recoveryCodes.regenerated',
  recovery_code_used: 'mfa.recoveryCode.used',
};

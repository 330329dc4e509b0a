import type { MailContent } from './mail-content.js';

/** A change to an account's second factors that its user is told about. */
export type AccountChange = 'totp_enabled' | 'totp_removed' | 'passkey_added' | 'passkey_removed' | 'recovery_codes_regenerated' | 'recovery_code_used';

export interface AccountChangeData {
  change: AccountChange;
  /** ISO 8601, UTC. */
  at: string;
  ip: string;
  publicUrl: string;
}

const WHAT: Record<AccountChange, { subject: string; sentence: string }> = {
  totp_enabled: { subject: 'Two-step sign-in was turned on', sentence: 'An authenticator app was added as a second factor to your Confide account.' },
  totp_removed: { subject: 'Your authenticator app was removed', sentence: 'The authenticator app was removed from your Confide account.' },
  passkey_added: { subject: 'A passkey was added', sentence: 'A passkey (security key or device) was added as a second factor to your Confide account.' },
  passkey_removed: { subject: 'A passkey was removed', sentence: 'A passkey was removed from your Confide account.' },
  recovery_codes_regenerated: { subject: 'New recovery codes were created', sentence: 'New recovery codes were created for your Confide account; the old ones no longer work.' },
  recovery_code_used: { subject: 'A recovery code was used to sign in', sentence: 'One of your recovery codes was used to sign in to your Confide account.' },
};

/**
 * Tells a user their account's security changed (ASVS 6.3.7), so a change they did not make is
 * noticed: what changed, when and from where, and no secret.
 */
export function accountChange({ change, at, ip, publicUrl }: AccountChangeData): MailContent {
  const { subject, sentence } = WHAT[change];
  return {
    subject: `Confide: ${subject}`,
    text: [
      sentence,
      '',
      `When: ${at} (UTC)`,
      `From: ${ip}`,
      '',
      `If this was you, there is nothing to do. If it was not, sign in at ${publicUrl}, change your password and`,
      'review your second factors, and tell your organisation’s administrator.',
    ].join('\n'),
  };
}

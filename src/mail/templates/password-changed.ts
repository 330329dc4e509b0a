import type { MailContent } from './mail-content.js';

export interface PasswordChangedData {
  /** ISO 8601, UTC. */
  at: string;
  ip: string;
  publicUrl: string;
}

/** Tells the user their password changed (ASVS 6.3.7), so a change they did not make is noticed. */
export function passwordChanged({ at, ip, publicUrl }: PasswordChangedData): MailContent {
  return {
    subject: 'Confide: your password was changed',
    text: [
      `The password of your Confide account was changed at ${at} (UTC) from ${ip}.`,
      'Every other session of your account was signed out.',
      '',
      `If this was not you, reset your password at ${publicUrl} and tell your organisation’s administrator.`,
    ].join('\n'),
  };
}

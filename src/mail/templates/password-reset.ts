import type { MailContent } from './mail-content.js';

export interface PasswordResetData {
  token: string;
  /** ISO 8601, UTC. */
  expiresAt: string;
  publicUrl: string;
}

/** The single-use link that sets a new password (and nothing more: the second factor stays). */
export function passwordReset({ token, expiresAt, publicUrl }: PasswordResetData): MailContent {
  return {
    subject: 'Confide: reset your password',
    text: [
      'Someone asked to reset the password of your Confide account.',
      '',
      `Choose a new password: ${publicUrl}/reset-password#token=${token}`,
      '',
      'The link opens a page that says what the token is for and sets the new password.',
      'Without a browser, send the token to the API with the new password (it answers 204):',
      '',
      `  POST ${publicUrl}/v1/password-resets/confirm`,
      '  Content-Type: application/json',
      `  {"token": "${token}", "password": "<new password>"}`,
      '',
      `The link works once and expires at ${expiresAt} (UTC). Your second factor, if you have one, stays as it is.`,
      'If you did not ask for this, ignore this e-mail: your password has not changed.',
    ].join('\n'),
  };
}

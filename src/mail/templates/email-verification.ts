import type { MailContent } from './mail-content.js';

export interface EmailVerificationData {
  token: string;
  /** ISO 8601, UTC. */
  expiresAt: string;
  publicUrl: string;
}

/** The link that proves a new account owns its address. Plain ASCII, the token on a line of its own: it survives any mail client and copy-paste. */
export function emailVerification({ token, expiresAt, publicUrl }: EmailVerificationData): MailContent {
  return {
    subject: 'Confide: confirm your e-mail address',
    text: [
      'Confirm that this address is yours to finish setting up your Confide account:',
      '',
      `${publicUrl}/verify-email#token=${token}`,
      '',
      'The link opens a page that says what the token is for and confirms the address.',
      'Without a browser, send the token to the API (it answers 204 when the address is confirmed):',
      '',
      `  POST ${publicUrl}/v1/email-verifications/confirm`,
      '  Content-Type: application/json',
      `  {"token": "${token}"}`,
      '',
      `The link works once and expires at ${expiresAt} (UTC).`,
      'If you did not create an account, ignore this e-mail: nothing happens without the link.',
    ].join('\n'),
  };
}

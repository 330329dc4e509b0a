import type { MailContent } from './mail-content.js';

export interface EmailVerificationData {
  token: string;
  /** ISO 8601, UTC. */
  expiresAt: string;
  publicUrl: string;
  /** When and from which address the account was created or the new link asked for. */
  requestedAt: string;
  requestedFrom: string;
}

/** The link that proves a new account owns its address. Plain ASCII, the token on a line of its own: it survives any mail client and copy-paste. */
export function emailVerification({ token, expiresAt, publicUrl, requestedAt, requestedFrom }: EmailVerificationData): MailContent {
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
      `It was asked for at ${requestedAt} (UTC) from ${requestedFrom}.`,
      '',
      'If you did not create this account, do not confirm: someone else chose your address and knows',
      `its password. Ignore this e-mail, or take the account over by resetting its password at ${publicUrl}`,
      '(POST /v1/password-resets), which signs everyone else out.',
    ].join('\n'),
  };
}

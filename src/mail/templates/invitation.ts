import type { Role } from '../../core/principal.js';
import type { MailContent } from './mail-content.js';

export interface InvitationData {
  organization: string;
  role: Role;
  token: string;
  /** ISO 8601, UTC. */
  expiresAt: string;
  publicUrl: string;
}

/** An invitation to join a tenant; the token travels only here, in the link's fragment. */
export function invitation({ organization, role, token, expiresAt, publicUrl }: InvitationData): MailContent {
  return {
    subject: `Confide: you are invited to join ${organization}`,
    text: [
      `You have been invited to join ${organization} on Confide as ${role === 'admin' ? 'an admin' : `a ${role}`}.`,
      '',
      `Accept the invitation: ${publicUrl}/accept-invitation#token=${token}`,
      '',
      'The link opens a page that says what the token is for and accepts the invitation.',
      'Without a browser, send the token to the API with a password: a new one for your account,',
      'or, if this address already has a Confide account, that account\'s password. It answers 201',
      'with a session, as signing in does (POST /v1/sessions):',
      '',
      `  POST ${publicUrl}/v1/invitations/accept`,
      '  Content-Type: application/json',
      `  {"token": "${token}", "password": "<password>"}`,
      '',
      `The invitation works once and expires on ${expiresAt} (UTC). If you did not expect it, ignore this e-mail.`,
    ].join('\n'),
  };
}

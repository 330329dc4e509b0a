import type { MailContent } from './mail-content.js';

/** Why a tenant's owners and admins are told about a staff access request. */
export type StaffAccessNoticeKind = 'pending' | 'granted' | 'break_glass_requested' | 'break_glass_active';

export interface StaffAccessNoticeData {
  kind: StaffAccessNoticeKind;
  organization: string;
  tenantId: string;
  requestId: string;
  grantId?: string;
  staffEmail: string;
  scope: string;
  justification: string;
  reason: string;
  ticket: string | null;
  durationMinutes: number;
  /** ISO 8601, UTC: when an active grant ends. */
  expiresAt?: string;
  publicUrl: string;
}

const WHAT: Record<StaffAccessNoticeKind, { subject: string; sentence: string }> = {
  pending: {
    subject: 'a staff member asks for access',
    sentence: 'A member of the operator’s staff asks for access to your organisation’s data. Nothing is granted until an owner or admin approves.',
  },
  granted: {
    subject: 'a staff member was granted access',
    sentence: 'Your organisation lets staff in at once and tells you (staff access mode `notify`): a member of the operator’s staff now has access to its data.',
  },
  break_glass_requested: {
    subject: 'emergency (break-glass) staff access requested',
    sentence:
      'A member of the operator’s staff asks for emergency (break-glass) access to your organisation’s data. It does not wait for your approval: it starts as soon as a second security administrator of the operator approves it, and you will be told when it does.',
  },
  break_glass_active: {
    subject: 'emergency (break-glass) staff access is now active',
    sentence: 'A second security administrator of the operator approved the emergency (break-glass) access below: it is active now.',
  },
};

/**
 * Tells a tenant's owners and admins about staff access to their data: who, how much, why, for
 * how long, and where to approve, deny or revoke it. No token is in it; the only data quoted is
 * what the staff member wrote, which the tenant sees in the API anyway.
 */
export function staffAccessNotice(data: StaffAccessNoticeData): MailContent {
  const { subject, sentence } = WHAT[data.kind];
  const api = `${data.publicUrl}/v1`;
  const active = data.kind === 'granted' || data.kind === 'break_glass_active';
  return {
    subject: `Confide: ${subject} (${data.organization})`,
    text: [
      sentence,
      '',
      `Organisation: ${data.organization} (${data.tenantId})`,
      `Staff member: ${data.staffEmail}`,
      `Access: ${data.scope}`,
      `Justification: ${data.justification}`,
      'Reason, as the staff member wrote it:',
      ...quoted(data.reason),
      `Ticket: ${quoted(data.ticket ?? '(none)').join(' ').slice(2)}`,
      `Duration: ${data.durationMinutes} minutes${data.expiresAt ? `, until ${data.expiresAt} (UTC)` : ''}`,
      `Request: ${data.requestId}`,
      '',
      ...(active && data.grantId
        ? [`To end this access now, an owner or admin revokes the grant: POST ${api}/access-grants/${data.grantId}/revoke`]
        : data.kind === 'pending'
          ? [`An owner or admin approves or denies it: POST ${api}/access-requests/${data.requestId}/approve (or /deny)`]
          : [`You can deny it: POST ${api}/access-requests/${data.requestId}/deny, or revoke the grant once it is active.`]),
      `Every request and grant is listed at GET ${api}/access-requests and GET ${api}/access-grants, and every staff access is in your access log.`,
      '',
      `Confide: ${data.publicUrl}`,
    ].join('\n'),
  };
}

/**
 * What a staff member wrote, set apart line by line with "> ", so no line of it can pass for
 * Confide's own text (a forged "To end this access…" instruction with another address).
 */
function quoted(text: string): string[] {
  return text.split(/\r\n|\r|\n|\u2028|\u2029/).map((line) => `> ${line}`);
}

import type { MailContent } from './mail-content.js';

/** What happened to a staff member's access request. */
export type StaffAccessDecision = 'approved' | 'denied' | 'revoked' | 'break_glass_approved';

export interface StaffAccessDecisionData {
  decision: StaffAccessDecision;
  tenantId: string;
  requestId: string;
  scope: string;
  /** ISO 8601, UTC: when the grant ends (approved ones). */
  expiresAt?: string;
}

const WHAT: Record<StaffAccessDecision, string> = {
  approved: 'was approved by the tenant: the grant is active',
  denied: 'was denied by the tenant',
  revoked: 'ended: the tenant revoked the grant',
  break_glass_approved: 'was approved by a second security administrator: the break-glass grant is active and must be reviewed afterwards',
};

/**
 * Tells a staff member what became of their request. Ids only: no tenant name, no reason either
 * side wrote, no customer data (the admin API shows the details to whoever may see them).
 */
export function staffAccessDecision(data: StaffAccessDecisionData): MailContent {
  return {
    subject: `Confide: your access request ${data.decision === 'denied' ? 'was denied' : data.decision === 'revoked' ? 'was revoked' : 'was approved'}`,
    text: [
      `Your request ${data.requestId} for ${data.scope} access to tenant ${data.tenantId} ${WHAT[data.decision]}.`,
      ...(data.expiresAt ? ['', `The grant ends on ${data.expiresAt} (UTC).`] : []),
      '',
      'Details: GET /admin/v1/access-requests/' + data.requestId + ' on the admin listener.',
    ].join('\n'),
  };
}

import type { MailContent } from './mail-content.js';

/** An alert as the on-call engineer reads it (the monitor's AlertNotice, without its details). */
export interface AlertMailData {
  alertId: string;
  rule: string;
  severity: string;
  subject: string;
  state: string;
  transition: 'opened' | 'acknowledged' | 'resolved';
  summary: string;
  openedAt: string;
  /** When this change happened (ISO 8601, UTC). */
  at: string;
  occurrences: number;
  by?: string;
}

const WHAT: Record<AlertMailData['transition'], string> = {
  opened: 'An alert was raised.',
  acknowledged: 'An alert was acknowledged by a security administrator.',
  resolved: 'An alert was resolved.',
};

/**
 * Tells the operators of CONFIDE_ALERT_EMAILS that an alert changed state: which rule, about
 * what, how bad, and where to act. It quotes only what the monitor wrote (never a credential or
 * customer data), and one mail is sent per change, never per occurrence.
 */
export function alertMail(data: AlertMailData): MailContent {
  return {
    subject: `Confide alert ${data.transition}: [${data.severity}] ${data.rule} (${data.subject})`,
    text: [
      WHAT[data.transition],
      '',
      `Rule: ${data.rule}`,
      `Severity: ${data.severity}`,
      `Subject: ${data.subject}`,
      `Summary: ${data.summary}`,
      `State: ${data.state}${data.by ? ` (by ${data.by})` : ''}`,
      `Opened: ${data.openedAt} (UTC)`,
      `This change: ${data.at} (UTC)`,
      `Occurrences so far: ${data.occurrences}`,
      `Alert: ${data.alertId}`,
      '',
      'Security administrators see, acknowledge and resolve alerts on the admin listener: GET /admin/v1/alerts.',
      'What each rule means and what to do about it: docs/monitoring.md.',
    ].join('\n'),
  };
}

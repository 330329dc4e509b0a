import { accountChange } from './account-change.js';
import { alertMail } from './alert-mail.js';
import { emailVerification } from './email-verification.js';
import { invitation } from './invitation.js';
import { passwordChanged } from './password-changed.js';
import { passwordReset } from './password-reset.js';
import { staffAccessDecision } from './staff-access-decision.js';
import { staffAccessNotice } from './staff-access-notice.js';

/**
 * Every mail Confide sends, by name: one file per template, each a function from its data to a
 * subject and a plain-text body. A new mail is one file here and one line below.
 */
export const MAIL_TEMPLATES = {
  'email-verification': emailVerification,
  'password-reset': passwordReset,
  'password-changed': passwordChanged,
  invitation,
  'account-change': accountChange,
  'staff-access-notice': staffAccessNotice,
  'staff-access-decision': staffAccessDecision,
  alert: alertMail,
} as const;

export type MailTemplateName = keyof typeof MAIL_TEMPLATES;
/** The data template `N` renders from. */
export type MailTemplateData<N extends MailTemplateName> = Parameters<(typeof MAIL_TEMPLATES)[N]>[0];

export function renderMail<N extends MailTemplateName>(template: N, data: MailTemplateData<N>) {
  return (MAIL_TEMPLATES[template] as (data: MailTemplateData<N>) => ReturnType<(typeof MAIL_TEMPLATES)[N]>)(data);
}

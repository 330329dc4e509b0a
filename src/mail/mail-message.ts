/** A message as Confide queues it: plain text, one recipient. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** What a template renders: the message without its recipient. */
export interface MailContent {
  subject: string;
  text: string;
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { MailQueue } from '../mail/mail-queue.js';
import type { Clock } from '../lib/time.js';
import type { AlertNotice, AlertNotifier } from './alert-notifier.js';
import type { WebhookQueue } from './webhook-queue.js';

/**
 * Tells people about every alert change: one e-mail to each of CONFIDE_ALERT_EMAILS (through the
 * mail queue) and one signed webhook delivery when CONFIDE_ALERT_WEBHOOK_URL is set, both written
 * in the alert's transaction so they exist exactly when the change commits, and both retried
 * until delivered. What leaves is the notice's fields, never its `details`: those are for staff on
 * the admin listener, and a receiver outside needs no more than what, how bad and where to look.
 */
export class AlertDelivery implements AlertNotifier {
  constructor(
    private readonly mail: Pick<MailQueue, 'send'>,
    private readonly emails: readonly string[],
    /** The webhook queue (a background worker), when a webhook is configured. */
    readonly webhooks: WebhookQueue | undefined,
    private readonly clock: Clock,
  ) {}

  async notify(trx: Kysely<DB>, notice: AlertNotice): Promise<void> {
    const at = this.clock.now().toISOString();
    const fields = {
      alertId: notice.id,
      rule: notice.rule,
      severity: notice.severity,
      subject: notice.subject,
      state: notice.state,
      transition: notice.transition,
      summary: notice.summary,
      openedAt: notice.openedAt,
      at,
      occurrences: notice.occurrences,
      ...(notice.by ? { by: notice.by } : {}),
    };
    for (const to of this.emails) await this.mail.send(trx, 'alert', to, fields);
    if (this.webhooks) {
      const { alertId, ...alert } = fields;
      await this.webhooks.enqueue(trx, notice.id, { type: `alert.${notice.transition}`, alert: { id: alertId, ...alert } });
    }
  }

  start(): void {
    this.webhooks?.start();
  }

  async stop(): Promise<void> {
    await this.webhooks?.stop();
  }
}

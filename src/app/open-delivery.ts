import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import type { Clock } from '../lib/time.js';
import type { MailQueue } from '../mail/mail-queue.js';
import { AlertDelivery } from '../monitoring/alert-delivery.js';
import { WebhookQueue } from '../monitoring/webhook-queue.js';
import { SyslogForwarder } from '../security-events/syslog-forwarder.js';

/** What leaves the host: the syslog forwarder of security events, when CONFIDE_SYSLOG_URL is set. */
export function openSyslogForwarder(config: Readonly<Config>, clock: Clock, logger: Logger | undefined): SyslogForwarder | undefined {
  const { target, bufferLines } = config.syslog;
  return target ? new SyslogForwarder(target, clock, logger, { bufferLines }) : undefined;
}

/** Who is told about alerts: CONFIDE_ALERT_EMAILS through the mail queue, and the signed webhook when configured. */
export function openAlertDelivery(
  config: Readonly<Config>,
  db: Kysely<DB>,
  mail: MailQueue,
  systemCipher: () => Promise<Cipher>,
  clock: Clock,
  logger: Logger | undefined,
): AlertDelivery {
  const { emails, webhook } = config.alerts;
  const onError = (error: unknown) => logger?.error({ err: error }, 'alert webhook delivery round failed');
  const webhooks = webhook ? new WebhookQueue(db, webhook, systemCipher, clock, onError) : undefined;
  return new AlertDelivery(mail, emails, webhooks, clock);
}

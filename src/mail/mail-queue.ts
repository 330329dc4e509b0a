import type { Kysely } from 'kysely';
import { afterCommit } from '../db/after-commit.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import type { MailMessage } from './mail-message.js';
import type { MailTransport } from './mail-transport.js';
import { renderMail, type MailTemplateData, type MailTemplateName } from './templates/mail-templates.js';
import { DeliveryQueue } from '../delivery/delivery-queue.js';

/**
 * A persistent, encrypted mail queue. Messages are written in the caller's transaction, so a mail
 * is queued exactly when the change it reports commits. Delivery (src/delivery/delivery-queue.ts)
 * retries with exponential backoff (capped at 15 minutes) for as long as it takes: a message is
 * never dropped while SMTP is down. A delivered message is deleted. Claims let several nodes share
 * the queue.
 */
export class MailQueue {
  private readonly delivery: DeliveryQueue;

  constructor(
    db: Kysely<DB>,
    private readonly transport: MailTransport,
    private readonly cipher: () => Promise<Cipher>,
    private readonly clock: Clock,
    retryBaseSeconds: number,
    onError: (error: unknown) => void,
  ) {
    this.delivery = new DeliveryQueue(
      db,
      cipher,
      clock,
      {
        table: 'mail_queue',
        sealedColumn: 'message_enc',
        location: (row) => ENCRYPTED_FIELDS.mailQueueMessage.location(row),
        retryBaseSeconds,
        deliver: (_id, message) => this.transport.deliver(JSON.parse(message) as MailMessage),
        errorCode: mailErrorCode,
      },
      onError,
    );
  }

  /**
   * Renders `template` for `to` and queues it inside the caller's transaction: the mail exists
   * exactly when the change it reports commits, and its delivery starts once that commit is
   * durable (afterCommit), not before (a delivery round would not see it yet).
   */
  async send<N extends MailTemplateName>(trx: Kysely<DB>, template: N, to: string, data: MailTemplateData<N>): Promise<void> {
    await this.enqueue(trx, await this.cipher(), { to, ...renderMail(template, data) });
    afterCommit(trx, () => void this.kick());
  }

  /** Queues a message inside the caller's transaction. Call `kick()` after the commit (`send` does both). */
  async enqueue(trx: Kysely<DB>, systemCipher: Cipher, message: MailMessage): Promise<void> {
    const id = newId();
    const now = this.clock.now().toISOString();
    await trx
      .insertInto('mail_queue')
      .values({ id, message_enc: systemCipher.encrypt(JSON.stringify(message), ENCRYPTED_FIELDS.mailQueueMessage.location({ id })), attempts: 0, next_attempt_at: now, claimed_until: null, last_error: null, created_at: now })
      .execute();
  }

  /** Starts polling for due messages every `intervalMs`. */
  start(intervalMs = 5_000): void {
    this.delivery.start(intervalMs);
  }

  /** Delivers what is due now and resolves when that is done; never rejects, rounds never overlap. */
  kick(): Promise<void> {
    return this.delivery.kick();
  }

  async stop(): Promise<void> {
    await this.delivery.stop();
    this.transport.close();
  }

  pendingCount(): Promise<number> {
    return this.delivery.pendingCount();
  }
}

/** Only the error's code: a message text may echo addresses back. */
function mailErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code.slice(0, 100) : 'delivery failed';
}

import type { Kysely } from 'kysely';
import { afterCommit } from '../db/after-commit.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import { addSeconds, type Clock } from '../lib/time.js';
import type { MailMessage } from './mail-message.js';
import type { MailTransport } from './mail-transport.js';
import { renderMail, type MailTemplateData, type MailTemplateName } from './templates/mail-templates.js';
import { PollingRounds } from '../lib/polling-rounds.js';

const BATCH = 20;
const CLAIM_SECONDS = 120;
const MAX_BACKOFF_SECONDS = 15 * 60;

/**
 * A persistent, encrypted mail queue. Messages are written in the caller's transaction, so a mail
 * is queued exactly when the change it reports commits. Delivery retries with exponential
 * backoff (capped at 15 minutes) for as long as it takes: a message is never dropped while SMTP is
 * down. A delivered message is deleted. Claims let several nodes share the queue.
 */
export class MailQueue {
  private readonly rounds: PollingRounds;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly transport: MailTransport,
    private readonly cipher: () => Promise<Cipher>,
    private readonly clock: Clock,
    private readonly retryBaseSeconds: number,
    onError: (error: unknown) => void,
  ) {
    this.rounds = new PollingRounds(() => this.deliverDue(), onError);
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
    this.rounds.start(intervalMs);
  }

  /** Delivers what is due now and resolves when that is done; never rejects, rounds never overlap (lib/polling-rounds.ts). */
  kick(): Promise<void> {
    return this.rounds.kick();
  }

  async stop(): Promise<void> {
    await this.rounds.stop();
    this.transport.close();
  }

  async pendingCount(): Promise<number> {
    const row = await this.db.selectFrom('mail_queue').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async deliverDue(): Promise<void> {
    const now = this.clock.now();
    const due = await this.db
      .selectFrom('mail_queue')
      .select(['id', 'message_enc', 'attempts'])
      .where('next_attempt_at', '<=', now.toISOString())
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now.toISOString())]))
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .execute();
    const cipher = await this.cipher();
    for (const row of due) {
      // Claimed from the time it is taken, not the round's start: after slow sends before it, a
      // claim dated from the start could already have run out, and another node could send it too.
      const takenAt = this.clock.now();
      const claimed = await this.db
        .updateTable('mail_queue')
        .set({ claimed_until: addSeconds(takenAt, CLAIM_SECONDS).toISOString() })
        .where('id', '=', row.id)
        // Still as read: another node that failed it meanwhile has set its backoff and attempts.
        .where('attempts', '=', row.attempts)
        .where('next_attempt_at', '<=', takenAt.toISOString())
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', takenAt.toISOString())]))
        .executeTakeFirst();
      if (claimed.numUpdatedRows === 0n) continue; // another node has it
      try {
        await this.transport.deliver(JSON.parse(cipher.decrypt(row.message_enc, ENCRYPTED_FIELDS.mailQueueMessage.location(row))) as MailMessage);
        await this.db.deleteFrom('mail_queue').where('id', '=', row.id).execute();
      } catch (error) {
        const attempts = Number(row.attempts) + 1;
        const backoff = Math.min(this.retryBaseSeconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS);
        await this.db
          .updateTable('mail_queue')
          .set({
            attempts,
            claimed_until: null,
            next_attempt_at: addSeconds(this.clock.now(), backoff).toISOString(),
            // Only the error's code: a message text may echo addresses back.
            last_error: errorCode(error),
          })
          .where('id', '=', row.id)
          .execute();
      }
    }
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code.slice(0, 100) : 'delivery failed';
}

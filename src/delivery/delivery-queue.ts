import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher, ValueLocation } from '../keys/cipher.js';
import { addSeconds, type Clock } from '../lib/time.js';
import { PollingRounds } from '../lib/polling-rounds.js';
import type { UntypedDb } from '../db/untyped-db.js';

const BATCH = 20;
const CLAIM_SECONDS = 120;
const MAX_BACKOFF_SECONDS = 15 * 60;

/** The queue tables (mail, alert webhooks): each row one sealed item with the same delivery columns. */
export type QueueTable = 'mail_queue' | 'webhook_deliveries';

export interface DeliveryQueueSpec {
  table: QueueTable;
  /** The column holding the item, sealed under the system key. */
  sealedColumn: 'message_enc' | 'payload_enc';
  /** Its registry location (src/keys/encrypted-fields.ts). */
  location: (row: { id: string }) => ValueLocation;
  /** First retry delay; it doubles with each failed attempt, up to 15 minutes. */
  retryBaseSeconds: number;
  /** Delivers one item (opened); throws to have it retried later. */
  deliver: (id: string, item: string) => Promise<void>;
  /** What of a failure is stored: a code only, never a message (it may echo addresses or tokens). */
  errorCode: (error: unknown) => string;
}


/**
 * Delivery of a persistent queue, shared by the mail queue and the alert webhooks: rounds that
 * never overlap (lib/polling-rounds.ts), each taking due rows oldest first; each row claimed when it
 * is taken (claimed_until), and only if still as read, so several nodes share a queue without
 * delivering one item twice at once; retried with exponential backoff (capped at 15 minutes) for as
 * long as it takes, never given up; deleted once delivered. At least once: a delivery that
 * succeeded but whose row could not be deleted is delivered again.
 */
export class DeliveryQueue {
  private readonly rounds: PollingRounds;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly cipher: () => Promise<Cipher>,
    private readonly clock: Clock,
    private readonly spec: DeliveryQueueSpec,
    onError: (error: unknown) => void,
  ) {
    this.rounds = new PollingRounds(() => this.deliverDue(), onError);
  }

  /** Starts polling for due items every `intervalMs`. */
  start(intervalMs = 5_000): void {
    this.rounds.start(intervalMs);
  }

  /** Delivers what is due now and resolves when that is done; never rejects, rounds never overlap. */
  kick(): Promise<void> {
    return this.rounds.kick();
  }

  stop(): Promise<void> {
    return this.rounds.stop();
  }

  async pendingCount(): Promise<number> {
    const row = await this.db.selectFrom(this.spec.table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async deliverDue(): Promise<void> {
    const { table, sealedColumn } = this.spec;
    const now = this.clock.now().toISOString();
    const due = (await (this.db as UntypedDb)
      .selectFrom(table)
      .select(['id', `${sealedColumn} as sealed`, 'attempts'])
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .execute()) as Array<{ id: string; sealed: string; attempts: number | string }>;
    const cipher = await this.cipher();
    for (const row of due) {
      // Claimed from the time it is taken, not the round's start: after slow deliveries before it, a
      // claim dated from the start could already have run out, and another node could deliver it too.
      if (!(await this.claim(row.id, Number(row.attempts), this.clock.now().toISOString()))) continue; // another node has it
      try {
        await this.spec.deliver(row.id, cipher.decrypt(row.sealed, this.spec.location(row)));
        await (this.db as UntypedDb).deleteFrom(table).where('id', '=', row.id).execute();
      } catch (error) {
        await this.retryLater(row.id, Number(row.attempts) + 1, error);
      }
    }
  }

  private async claim(id: string, attempts: number, now: string): Promise<boolean> {
    const claimed = await (this.db as UntypedDb)
      .updateTable(this.spec.table)
      .set({ claimed_until: addSeconds(new Date(now), CLAIM_SECONDS).toISOString() })
      .where('id', '=', id)
      // Still as read: another node that failed it meanwhile has set its backoff and attempts.
      .where('attempts', '=', attempts)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return claimed.numUpdatedRows > 0n;
  }

  private async retryLater(id: string, attempts: number, error: unknown): Promise<void> {
    const backoff = Math.min(this.spec.retryBaseSeconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS);
    await (this.db as UntypedDb)
      .updateTable(this.spec.table)
      .set({ attempts, claimed_until: null, next_attempt_at: addSeconds(this.clock.now(), backoff).toISOString(), last_error: this.spec.errorCode(error) })
      .where('id', '=', id)
      .execute();
  }
}

import type { Kysely } from 'kysely';
import { afterCommit } from '../db/after-commit.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import { addSeconds, type Clock } from '../lib/time.js';
import { webhookSignature } from './webhook-signature.js';
import { PollingRounds } from '../lib/polling-rounds.js';

const BATCH = 20;
const CLAIM_SECONDS = 120;
const MAX_BACKOFF_SECONDS = 15 * 60;

export interface WebhookTarget {
  url: string;
  secret: string;
}

export interface WebhookQueueOptions {
  /** First retry delay; it doubles with each failed attempt, up to 15 minutes. */
  retryBaseSeconds?: number;
  /** How long one POST may take before it counts as failed (and is retried). */
  timeoutMs?: number;
}

/**
 * The persistent, encrypted queue of alert webhooks, built as the mail queue is
 * (src/mail/mail-queue.ts): a delivery is written in the alert's transaction, so it exists exactly
 * when the alert change commits; delivery starts after the commit and retries with exponential
 * backoff (capped at 15 minutes) for as long as the receiver is down: never given up, never lost.
 * A delivery answered 2xx is deleted. Claims (claimed_until) let several nodes share the queue
 * without posting one delivery twice at once. Delivery is at least once: a receiver that answered
 * 2xx too late may see it again, with the same X-Confide-Delivery id.
 */
export class WebhookQueue {
  private readonly rounds: PollingRounds;
  private readonly retryBaseSeconds: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly target: WebhookTarget,
    private readonly cipher: () => Promise<Cipher>,
    private readonly clock: Clock,
    onError: (error: unknown) => void,
    options: WebhookQueueOptions = {},
  ) {
    this.rounds = new PollingRounds(() => this.deliverDue(), onError);
    this.retryBaseSeconds = options.retryBaseSeconds ?? 5;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Queues `payload` (posted as JSON) for `alertId` inside the caller's transaction; delivery starts after the commit. */
  async enqueue(trx: Kysely<DB>, alertId: string, payload: Record<string, unknown>): Promise<void> {
    const id = newId();
    const now = this.clock.now().toISOString();
    const body = JSON.stringify({ deliveryId: id, ...payload });
    const payloadEnc = (await this.cipher()).encrypt(body, ENCRYPTED_FIELDS.webhookDeliveriesPayload.location({ id }));
    await trx
      .insertInto('webhook_deliveries')
      .values({ id, alert_id: alertId, payload_enc: payloadEnc, attempts: 0, next_attempt_at: now, claimed_until: null, last_error: null, created_at: now })
      .execute();
    afterCommit(trx, () => void this.kick());
  }

  /** Starts polling for due deliveries every `intervalMs`. */
  start(intervalMs = 5_000): void {
    this.rounds.start(intervalMs);
  }

  /** Delivers what is due now and resolves when that is done; never rejects, rounds never overlap (lib/polling-rounds.ts). */
  kick(): Promise<void> {
    return this.rounds.kick();
  }

  async stop(): Promise<void> {
    await this.rounds.stop();
  }

  async pendingCount(): Promise<number> {
    const row = await this.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async deliverDue(): Promise<void> {
    const now = this.clock.now().toISOString();
    const due = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'payload_enc', 'attempts'])
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(BATCH)
      .execute();
    const cipher = await this.cipher();
    for (const row of due) {
      // Claimed from the time it is taken, not the round's start: after slow posts before it, a
      // claim dated from the start could already have run out, and another node could post it too.
      if (!(await this.claim(row.id, Number(row.attempts), this.clock.now().toISOString()))) continue; // another node has it
      try {
        await this.post(row.id, cipher.decrypt(row.payload_enc, ENCRYPTED_FIELDS.webhookDeliveriesPayload.location(row)));
        await this.db.deleteFrom('webhook_deliveries').where('id', '=', row.id).execute();
      } catch (error) {
        await this.retryLater(row.id, Number(row.attempts) + 1, error);
      }
    }
  }

  private async claim(id: string, attempts: number, now: string): Promise<boolean> {
    const claimed = await this.db
      .updateTable('webhook_deliveries')
      .set({ claimed_until: addSeconds(new Date(now), CLAIM_SECONDS).toISOString() })
      .where('id', '=', id)
      // Still as read: another node that failed it meanwhile has set its backoff and attempts.
      .where('attempts', '=', attempts)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return claimed.numUpdatedRows > 0n;
  }

  /** One POST, signed; anything but a 2xx within the timeout (a redirect included) is a failure. */
  private async post(id: string, body: string): Promise<void> {
    const timestamp = Math.floor(this.clock.now().getTime() / 1000);
    const response = await fetch(this.target.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Confide-Webhook/1',
        'x-confide-delivery': id,
        'x-confide-timestamp': String(timestamp),
        'x-confide-signature': webhookSignature(this.target.secret, timestamp, body),
      },
      body,
    });
    await response.body?.cancel(); // the answer's body is not read: only its status counts
    if (response.status < 200 || response.status > 299) throw new WebhookRefused(response.status);
  }

  private async retryLater(id: string, attempts: number, error: unknown): Promise<void> {
    const backoff = Math.min(this.retryBaseSeconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS);
    await this.db
      .updateTable('webhook_deliveries')
      .set({ attempts, claimed_until: null, next_attempt_at: addSeconds(this.clock.now(), backoff).toISOString(), last_error: errorCode(error) })
      .where('id', '=', id)
      .execute();
  }
}

class WebhookRefused extends Error {
  readonly code: string;
  constructor(status: number) {
    super(`the receiver answered ${status}`);
    this.code = `HTTP ${status}`;
  }
}

/** Only a code (HTTP 503, ECONNREFUSED, TimeoutError): the URL may hold a token, and messages may echo it. */
function errorCode(error: unknown): string {
  const direct = (error as { code?: unknown } | null)?.code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const name = (error as { name?: unknown } | null)?.name;
  const code = [direct, cause, name].find((value) => typeof value === 'string');
  return typeof code === 'string' ? code.slice(0, 100) : 'delivery failed';
}

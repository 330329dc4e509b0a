import type { Kysely } from 'kysely';
import { afterCommit } from '../db/after-commit.js';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import { webhookSignature } from './webhook-signature.js';
import { DeliveryQueue } from '../delivery/delivery-queue.js';

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
 * The persistent, encrypted queue of alert webhooks, delivered as the mail queue is
 * (src/delivery/delivery-queue.ts): a delivery is written in the alert's transaction, so it exists exactly
 * when the alert change commits; delivery starts after the commit and retries with exponential
 * backoff (capped at 15 minutes) for as long as the receiver is down: never given up, never lost.
 * A delivery answered 2xx is deleted. Claims (claimed_until) let several nodes share the queue
 * without posting one delivery twice at once. Delivery is at least once: a receiver that answered
 * 2xx too late may see it again, with the same X-Confide-Delivery id.
 */
export class WebhookQueue {
  private readonly delivery: DeliveryQueue;
  private readonly timeoutMs: number;

  constructor(
    db: Kysely<DB>,
    private readonly target: WebhookTarget,
    private readonly cipher: () => Promise<Cipher>,
    private readonly clock: Clock,
    onError: (error: unknown) => void,
    options: WebhookQueueOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.delivery = new DeliveryQueue(
      db,
      cipher,
      clock,
      {
        table: 'webhook_deliveries',
        sealedColumn: 'payload_enc',
        location: (row) => ENCRYPTED_FIELDS.webhookDeliveriesPayload.location(row),
        retryBaseSeconds: options.retryBaseSeconds ?? 5,
        deliver: (id, body) => this.post(id, body),
        errorCode: webhookErrorCode,
      },
      onError,
    );
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
    this.delivery.start(intervalMs);
  }

  /** Delivers what is due now and resolves when that is done; never rejects, rounds never overlap. */
  kick(): Promise<void> {
    return this.delivery.kick();
  }

  stop(): Promise<void> {
    return this.delivery.stop();
  }

  pendingCount(): Promise<number> {
    return this.delivery.pendingCount();
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
}

class WebhookRefused extends Error {
  readonly code: string;
  constructor(status: number) {
    super(`the receiver answered ${status}`);
    this.code = `HTTP ${status}`;
  }
}

/** Only a code (HTTP 503, ECONNREFUSED, TimeoutError): the URL may hold a token, and messages may echo it. */
function webhookErrorCode(error: unknown): string {
  const direct = (error as { code?: unknown } | null)?.code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const name = (error as { name?: unknown } | null)?.name;
  const code = [direct, cause, name].find((value) => typeof value === 'string');
  return typeof code === 'string' ? code.slice(0, 100) : 'delivery failed';
}

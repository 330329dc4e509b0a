import { createHmac } from 'node:crypto';

/**
 * The webhook signature, as Stripe signs its events: HMAC-SHA-256, keyed with
 * CONFIDE_ALERT_WEBHOOK_SECRET, over `<timestamp>.<body>`, where the timestamp (Unix seconds) is
 * the X-Confide-Timestamp header. Binding the time in lets a receiver refuse a replayed delivery
 * (one whose timestamp is more than a few minutes old) without keeping any state.
 * docs/alert-delivery.md shows how a receiver checks it.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { addSeconds, type Clock } from '../lib/time.js';
import { pruneSecurityEvents } from './security-event-store.js';

const HOUR_MS = 3_600_000;

/**
 * Keeps stored security events for `retentionDays` (400 by default: a year and a bit, so a yearly
 * audit still finds the whole year) and deletes older ones every hour. The access log is a record
 * of customer-data access that tenants verify as a chain; it is never pruned here.
 */
export class SecurityEventRetention {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly retentionDays: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(intervalMs = HOUR_MS): void {
    this.timer = setInterval(() => void this.runOnce().catch(this.onError), intervalMs);
    this.timer.unref();
    void this.runOnce().catch(this.onError);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Deletes what is past retention now; returns how many events went. */
  runOnce(): Promise<number> {
    const cutoff = addSeconds(this.clock.now(), -this.retentionDays * 86_400).toISOString();
    return pruneSecurityEvents(this.db, cutoff);
  }
}

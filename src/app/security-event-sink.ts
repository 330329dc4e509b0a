import type { Logger } from 'pino';
import type { SecurityEvent, SecurityEventSink } from '../core/security-events.js';
import { systemClock, type Clock } from '../lib/time.js';

/** Events kept for a later try while the database cannot store them; beyond this the oldest go (they are still in the logs). */
export const UNSTORED_EVENTS_LIMIT = 10_000;
/** How often kept events are tried again while nothing else is being stored. */
const RETRY_INTERVAL_MS = 10_000;

export interface SecurityEventSinkOptions {
  /** The metrics: by type and outcome. */
  counted?: (event: SecurityEvent) => void;
  /** The syslog forwarder (CONFIDE_SYSLOG_URL): never blocks. */
  forward?: (event: SecurityEvent) => void;
  retryIntervalMs?: number;
  /** Stamps each event with the time it is recorded (the test clock in tests). */
  clock?: Clock;
}

/** The sink, and what the process's shutdown and metrics need of it. */
export interface StoringSecurityEventSink extends SecurityEventSink {
  /** Events waiting for the database to store them again, and events dropped from that wait (over the limit). */
  readonly unstored: { waiting: () => number; dropped: () => number };
  /** Stops trying kept events again (the database is closing). */
  close(): void;
}

/**
 * The one sink every use case records security events into: each event is logged at once (so it
 * can be shipped), forwarded to the syslog collector if there is one, and stored centrally in the
 * background. An event the database cannot store (it is down, or refusing writes) is kept and
 * stored once it answers again, after the next event stored or within RETRY_INTERVAL_MS, oldest
 * first: an outage of the database delays the events that record it (`audit.unavailable`, the
 * failed sign-ins during it) rather than losing them, so the monitor still sees them afterwards.
 * Keeping is bounded (UNSTORED_EVENTS_LIMIT); a failure is logged once per outage.
 */
/** Stores one event as happened at `at` (ISO time, stamped when it was recorded). */
export type StoreSecurityEvent = (event: SecurityEvent, at: string) => Promise<void>;

export function securityEventSink(store: StoreSecurityEvent, logger: Logger | undefined, options: SecurityEventSinkOptions = {}): StoringSecurityEventSink {
  const storing = new Set<Promise<void>>();
  const clock = options.clock ?? systemClock;
  const kept = new KeptEvents(store, logger, options.retryIntervalMs ?? RETRY_INTERVAL_MS);
  return {
    record(event) {
      // Stamped now: an event kept through an outage is stored with the time it happened.
      const at = clock.now().toISOString();
      options.counted?.(event);
      // The blind index of an address tried is for the database's counts only: it stays out of the log.
      const { targetIndex: _stored, ...logged } = event;
      logger?.info({ securityEvent: logged }, `security event ${event.type}`);
      options.forward?.(event);
      const pending = store(event, at)
        .then(() => kept.stored())
        .catch((error: unknown) => kept.keep({ event, at, failures: 0, failedAfter: kept.storedCount }, error))
        .finally(() => storing.delete(pending));
      storing.add(pending);
    },
    async flush() {
      await Promise.all([...storing]);
      if (kept.waiting() > 0) await kept.retry(); // one more try; what still fails stays kept (and logged)
    },
    unstored: { waiting: () => kept.waiting(), dropped: () => kept.dropped },
    close: () => kept.close(),
  };
}

interface Kept {
  event: SecurityEvent;
  at: string;
  /** Times it failed while the database was storing other events (it, not the database, is the problem). */
  failures: number;
  /** `storedCount` when it last failed. */
  failedAfter: number;
}

/** An event refused this many times while others were stored is given up (logged and counted), so it cannot block those behind it. */
const REFUSED_EVENT_ATTEMPTS = 3;

/**
 * The events the database refused, oldest first, bounded, tried again until stored. Whether the
 * database is down or refuses one event is told apart by whether any event was stored since that
 * one last failed: only then does a failure count against the event.
 */
class KeptEvents {
  private readonly events: Kept[] = [];
  dropped = 0;
  /** Events stored so far, by anyone: tells an outage from an event the database refuses. */
  storedCount = 0;
  private failing = false;
  private closed = false;
  private retrying: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: StoreSecurityEvent,
    private readonly logger: Logger | undefined,
    private readonly retryIntervalMs: number,
  ) {}

  waiting(): number {
    return this.events.length;
  }

  /** An event was stored: the database answers, so what is kept can follow. */
  stored(): void {
    this.storedCount += 1;
    if (this.events.length > 0) void this.retry();
  }

  keep(kept: Kept, error: unknown): void {
    if (!this.failing) this.logger?.error({ err: error, securityEvent: kept.event.type }, 'security events cannot be stored; keeping them to store once the database answers');
    this.failing = true;
    if (this.events.length >= UNSTORED_EVENTS_LIMIT) {
      this.events.shift();
      this.dropped += 1;
    }
    this.events.push(kept);
    if (!this.timer && !this.closed) {
      this.timer = setInterval(() => void this.retry(), this.retryIntervalMs);
      this.timer.unref();
    }
  }

  /** Stores kept events oldest first, stopping while the database still refuses them all. */
  retry(): Promise<void> {
    this.retrying ??= this.storeKept().finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async storeKept(): Promise<void> {
    let index = 0;
    while (index < this.events.length && !this.closed) {
      const kept = this.events[index]!;
      try {
        await this.store(kept.event, kept.at);
        this.events.splice(index, 1);
        this.storedCount += 1;
        continue;
      } catch (error) {
        if (this.storedCount === kept.failedAfter) return; // nothing stored since it last failed: still an outage
        kept.failures += 1;
        kept.failedAfter = this.storedCount;
        if (kept.failures < REFUSED_EVENT_ATTEMPTS) {
          index += 1; // the others may go; this one is tried again next time
          continue;
        }
        this.events.splice(index, 1);
        this.dropped += 1;
        this.logger?.error({ err: error, securityEvent: kept.event.type, at: kept.at }, 'security event given up: the database refuses it while storing others');
      }
    }
    if (this.events.length > 0) return; // closed meanwhile, or some still refused
    if (this.failing) this.logger?.info({ dropped: this.dropped }, 'security events are stored again');
    this.failing = false;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

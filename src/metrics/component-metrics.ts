import { Counter, Gauge, type Registry } from 'prom-client';

/** What the rate-limit store counts (src/http/rate-limit-store.ts `stats`), read per scrape. */
export interface RateLimitCountsSource {
  readonly redisFailures: number;
}

/** What the syslog forwarder counts (src/security-events/syslog-forwarder.ts), read per scrape. */
export interface SyslogCountsSource {
  counts(): { sent: number; dropped: number; connectionFailures: number };
  status(): { buffered: number; connected: boolean };
}

/** What the security event sink keeps while the database refuses events (src/app/security-event-sink.ts), read per scrape. */
export interface UnstoredEventsSource {
  waiting(): number;
  dropped(): number;
}

export interface ComponentMetrics {
  /** From now on /metrics reports the security events this sink keeps for the database. */
  securityEvents(source: UnstoredEventsSource): void;
  /** From now on /metrics reports this store's Redis failures. */
  rateLimits(source: RateLimitCountsSource): void;
  /** From now on /metrics reports this forwarder's counts. */
  syslog(source: SyslogCountsSource): void;
}

/**
 * Counts that components already keep as plain numbers (they never import prom-client), copied
 * into their series when Prometheus scrapes: nothing is added to the paths that count. A component
 * that is not running (no Redis, no CONFIDE_SYSLOG_URL) reports 0.
 */
export function componentMetrics(registry: Registry): ComponentMetrics {
  const registers = [registry];
  let rateLimits: RateLimitCountsSource | undefined;
  let syslog: SyslogCountsSource | undefined;
  let unstored: UnstoredEventsSource | undefined;
  /** A counter whose value is a component's own monotonic count, read at scrape time. */
  const mirrored = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  mirrored('confide_rate_limit_redis_failures_total', 'Rate-limit counter increments Redis failed (refused, timed out, down) and this node counted in memory instead', () => rateLimits?.redisFailures ?? 0);
  mirrored('confide_syslog_sent_total', 'Security events handed to a connection to the syslog collector', () => syslog?.counts().sent ?? 0);
  mirrored('confide_syslog_dropped_total', 'Security events dropped (oldest first) because the syslog buffer was full while the collector was unreachable', () => syslog?.counts().dropped ?? 0);
  mirrored('confide_syslog_connection_failures_total', 'Connection attempts to the syslog collector that failed (refused, timed out, TLS refused)', () => syslog?.counts().connectionFailures ?? 0);
  new Gauge({
    name: 'confide_syslog_buffered_messages',
    help: 'Security events waiting in the syslog buffer for the collector',
    registers,
    collect() {
      this.set(syslog?.status().buffered ?? 0);
    },
  });
  mirrored('confide_security_events_unstored_dropped_total', 'Security events dropped (oldest first) while the database refused them and the in-memory wait was full; they are in the logs', () => unstored?.dropped() ?? 0);
  new Gauge({
    name: 'confide_security_events_unstored',
    help: 'Security events the database refused, kept in memory to store once it answers (non-zero: the database is refusing writes)',
    registers,
    collect() {
      this.set(unstored?.waiting() ?? 0);
    },
  });
  return {
    securityEvents: (source) => void (unstored = source),
    rateLimits: (source) => void (rateLimits = source),
    syslog: (source) => void (syslog = source),
  };
}

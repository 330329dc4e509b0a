import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SecurityEvent } from '../core/security-events.js';
import type { DB } from '../db/schema.js';
import { componentMetrics, type ComponentMetrics } from './component-metrics.js';
import { requestMetrics, type ListenerCounters } from './request-metrics.js';
import { storeGauges } from './store-gauges.js';

/**
 * Confide's Prometheus metrics, built once by the wiring (app/open-services.ts) in a registry of
 * their own (never prom-client's global one, so two apps in one process never share series). The
 * code that counts is handed one of these small methods, never prom-client itself; on the hot path
 * they only increment counters and histograms, and what lives in the database is read per scrape.
 */
export interface Metrics {
  /** One listener's traffic, labelled with its name (`public`, `admin`). */
  listener: (name: string) => ListenerCounters;
  accessLog: { appended(): void; failed(): void };
  /** The size of each group commit (SQLite; PostgreSQL commits each unit on its own). */
  groupCommitBatch: (size: number) => void;
  securityEvent: (event: SecurityEvent) => void;
  /** When the certificate the listeners serve expires (its notAfter): a gauge, for an alert well before. */
  certificateLoaded: (expiresAt: Date) => void;
  /** Components that keep their own counts (the rate-limit store, the syslog forwarder), read per scrape. */
  watch: ComponentMetrics;
  /** Everything in the Prometheus text format, the database gauges read now. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

// Batches form while one commit's fsync runs: powers of two up to what a busy node queues.
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export function createMetrics(db: Kysely<DB>): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const listener = requestMetrics(registry);
  const store = storeGauges(registry, db);
  const watch = componentMetrics(registry);
  const appends = new Counter({ name: 'confide_access_log_appends_total', help: 'Access-log entries written', registers });
  const appendFailures = new Counter({
    name: 'confide_access_log_append_failures_total',
    help: 'Access-log appends that failed (answered 503 AUDIT_UNAVAILABLE; nothing served or changed)',
    registers,
  });
  const batches = new Histogram({ name: 'confide_group_commit_batch_size', help: 'Units of work committed together in one SQLite transaction', buckets: BATCH_BUCKETS, registers });
  const events = new Counter({
    name: 'confide_security_events_total',
    help: 'Security events recorded, by type (docs/security-events.md) and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers,
  });
  const certificateExpiry = new Gauge({
    name: 'confide_tls_certificate_expiry_timestamp_seconds',
    help: 'When the TLS certificate the listeners serve expires (notAfter), in seconds since the epoch',
    registers,
  });
  return {
    listener,
    accessLog: { appended: () => appends.inc(), failed: () => appendFailures.inc() },
    groupCommitBatch: (size) => batches.observe(size),
    securityEvent: (event) => events.inc({ type: event.type, outcome: event.outcome }),
    certificateLoaded: (expiresAt) => certificateExpiry.set(Math.floor(expiresAt.getTime() / 1000)),
    watch,
    async scrape() {
      await store.refresh();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

import { Counter, Histogram, type Registry } from 'prom-client';

/** What one listener counts; the same shape as the HTTP kit's ListenerMetrics (src/http/listener-metrics.ts). */
export interface ListenerCounters {
  requestCompleted(method: string, route: string, statusCode: number, seconds: number): void;
  errorAnswered(code: string, statusCode: number): void;
  connectionRefused(reason: string): void;
}

// Seconds: from a cached read (a few ms) to the 30 s request timeout.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Request counters and the latency histogram, labelled by listener, method, route pattern and
 * status: every label has a small, fixed set of values (routes are patterns, never URLs; no tenant
 * or user id), so the number of series stays bounded whatever clients send.
 */
export function requestMetrics(registry: Registry): (listener: string) => ListenerCounters {
  const registers = [registry];
  const requests = new Counter({
    name: 'confide_http_requests_total',
    help: 'HTTP answers sent, by listener, method, route pattern and status',
    labelNames: ['listener', 'method', 'route', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'confide_http_request_duration_seconds',
    help: 'Time from the request arriving to its answer being sent, by listener, method and route pattern',
    labelNames: ['listener', 'method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'confide_http_errors_total',
    help: 'Error answers, by listener and error code (docs/errors.md)',
    labelNames: ['listener', 'code'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'confide_http_rate_limited_total',
    help: 'Answers 429 (a rate limit or throttle reached), by listener and error code',
    labelNames: ['listener', 'code'] as const,
    registers,
  });
  const refused = new Counter({
    name: 'confide_connections_refused_total',
    help: 'Connections refused by a connection cap before any request was read, by listener and reason',
    labelNames: ['listener', 'reason'] as const,
    registers,
  });
  return (listener) => ({
    requestCompleted(method, route, statusCode, seconds) {
      requests.inc({ listener, method, route, status: String(statusCode) });
      duration.observe({ listener, method, route }, seconds);
    },
    errorAnswered(code, statusCode) {
      errors.inc({ listener, code });
      if (statusCode === 429) rateLimited.inc({ listener, code });
    },
    connectionRefused(reason) {
      refused.inc({ listener, reason });
    },
  });
}

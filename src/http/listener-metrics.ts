/**
 * What a listener tells the metrics about its traffic. The wiring (app/) hands each listener one,
 * already bound to the listener's name; the HTTP kit only calls it, so it never imports a metrics
 * library, and without one (a listener built bare, in tests) nothing is counted.
 */
export interface ListenerMetrics {
  /** Every answer sent: the route's pattern (never the URL, which can carry tokens or customer data). */
  requestCompleted(method: string, route: string, statusCode: number, seconds: number): void;
  /** Every error answered at the error edge, by catalogue code (429 RATE_LIMITED among them). */
  errorAnswered(code: string, statusCode: number): void;
  /** A connection refused by a cap (per client IP or in total) before any request was read. */
  connectionRefused(reason: string): void;
}

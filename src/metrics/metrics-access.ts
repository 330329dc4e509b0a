import { createHash, timingSafeEqual } from 'node:crypto';

/** Who may read /metrics: the answer for one request. */
export type MetricsAccess = 'allowed' | 'unauthenticated' | 'disabled';

export interface MetricsAccessOptions {
  /** CONFIDE_METRICS_TOKEN, or null. */
  token: string | null;
  /** Whether the admin listener requires client certificates (CONFIDE_ADMIN_CLIENT_CA). */
  clientCertificates: boolean;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * /metrics is open to a scraper that presents CONFIDE_METRICS_TOKEN as a bearer token, or, when
 * the admin listener requires client certificates, to a connection whose certificate the handshake
 * verified. With neither configured there are no metrics to read: `disabled` (answered 404, as
 * for any path that does not exist). Both sides are hashed before the constant-time comparison,
 * so neither the token's bytes nor its length show in the time an answer takes.
 */
export function metricsAccess(options: MetricsAccessOptions): (token: string | undefined, certificateVerified: boolean) => MetricsAccess {
  const expected = options.token === null ? null : digest(options.token);
  return (token, certificateVerified) => {
    if (expected === null && !options.clientCertificates) return 'disabled';
    if (options.clientCertificates && certificateVerified) return 'allowed';
    if (expected !== null && token !== undefined && timingSafeEqual(digest(token), expected)) return 'allowed';
    return 'unauthenticated';
  };
}

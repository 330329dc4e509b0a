import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/** HSTS for two years (Mozilla, SSL Labs A+). */
const HSTS = { maxAge: 63_072_000, includeSubDomains: true };

/** The security headers of every answer, given to @fastify/helmet for routed requests. */
export const HELMET_OPTIONS = {
  hsts: HSTS,
  // An API answers JSON only: nothing of it may be framed, scripted or embedded.
  contentSecurityPolicy: { useDefaults: false as const, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' as const },
  crossOriginResourcePolicy: { policy: 'same-origin' as const },
};

let computed: Readonly<Record<string, string>> | undefined;

/**
 * The same headers as a plain map, for the answers written before or outside Fastify's request
 * pipeline (raw socket errors, router errors), where the helmet hook never runs. Helmet itself
 * computes them, from the same options, so the two sets cannot drift apart.
 */
export function securityHeaders(): Readonly<Record<string, string>> {
  if (computed) return computed;
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string | number) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  // Helmet (since 8.1) throws a configuration error itself rather than passing it to `next`.
  helmet(HELMET_OPTIONS)({} as IncomingMessage, collector as unknown as ServerResponse, () => undefined);
  computed = Object.freeze(headers);
  return computed;
}

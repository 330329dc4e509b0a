import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route's own security headers (securityHeaders(options)), in place of the API's. */
    securityHeaders?: Readonly<Record<string, string>>;
  }
}

/** HSTS for two years (Mozilla, SSL Labs A+). */
const HSTS = { maxAge: 63_072_000, includeSubDomains: true };

/** The options of the security headers of every answer (helmet's). */
export const HELMET_OPTIONS: HelmetOptions = {
  hsts: HSTS,
  // An API answers JSON only: nothing of it may be framed, scripted or embedded.
  contentSecurityPolicy: { useDefaults: false as const, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' as const },
  crossOriginResourcePolicy: { policy: 'same-origin' as const },
};

const computed = new WeakMap<HelmetOptions, Readonly<Record<string, string>>>();

/**
 * The security headers for `options` (the API's by default) as a plain map. Helmet itself computes
 * them, once per set of options, so they cannot drift from what helmet would send; each answer
 * then sets the map (addSecurityHeaders), rather than running helmet's middleware per request,
 * which set each header on its own and cost a few percent of a record read. Answers written before
 * or outside Fastify's request pipeline (raw socket errors, router errors) use the same map.
 */
export function securityHeaders(options: HelmetOptions = HELMET_OPTIONS): Readonly<Record<string, string>> {
  const known = computed.get(options);
  if (known) return known;
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string | number) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  // Helmet (since 8.1) throws a configuration error itself rather than passing it to `next`.
  helmet(options)({} as IncomingMessage, collector as unknown as ServerResponse, () => undefined);
  const frozen = Object.freeze(headers);
  computed.set(options, frozen);
  return frozen;
}

/**
 * Every answer carries the security headers: a route's own (`config.securityHeaders`) or the
 * API's. Registered as the first onRequest hook, so an answer refused by a later one (a 429, a
 * 414) carries them too.
 */
export function addSecurityHeaders(app: FastifyInstance): void {
  const api = securityHeaders();
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.routeOptions.config.securityHeaders ?? api);
    done();
  });
}

import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import type { Principal } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import type { RateLimitStore } from './rate-limit-store.js';

/** Every limit counts requests in fixed one-minute windows (the plugin's counters: memory or Redis). */
const WINDOW_MS = 60_000;

export type RateLimitSettings = Readonly<Config['rateLimits']>;

/** The stricter per-address limits a route opts into with `config: { rateLimit: routeRateLimit('signIn') }`. */
const ROUTE_LIMITS = {
  signIn: 'signInsPerIp',
  passwordReset: 'passwordResetsPerIp',
  invitationSend: 'invitationSendsPerIp',
} as const satisfies Record<string, keyof RateLimitSettings>;
export type RouteLimit = keyof typeof ROUTE_LIMITS;

export interface ListenerRateLimits {
  settings: RateLimitSettings;
  store: RateLimitStore;
  /** The listener's name: its counters are its own (`public`, `admin`). */
  listener: string;
  /** What one client counts as (the app passes the throttles' rule: an IPv4 address or an IPv6 /64). */
  sourceOf: (ip: string) => string;
  /** Told of every 429, naming the limit (`ip`, `account`, `apiKey`, `tenant`, `signIn`, …). */
  onRateLimited?: (request: FastifyRequest, limit: string, listener: string) => void;
}

interface RateLimitContext {
  settings: RateLimitSettings;
  limited(request: FastifyRequest, limit: string): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** What route-level limits read at request time (their size comes from the configuration). */
    confideRateLimits: RateLimitContext;
  }
}

const rateLimited = (ttlMs: number) => new AppError('RATE_LIMITED', { retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) });

/**
 * Request-rate limits of one listener, with @fastify/rate-limit (already Fastify's own, with the
 * IETF draft `RateLimit-*` headers, a Redis store and per-route options), answered in the
 * contract's shape: 429 RATE_LIMITED with `Retry-After`.
 * - every request, before authentication (onRequest): per client address;
 * - once authenticated, before the body is read (preParsing): per account (user or staff member),
 *   per API key and per tenant, so one tenant's or key's flood cannot starve the others;
 * - routes opt into stricter per-address limits: sign-up (its own hourly one), sign-in steps,
 *   password-reset requests and invitation sends (`routeRateLimit`), on top of the sign-in throttle.
 * CONFIDE_RATE_LIMITS=off drops the first two kinds (benchmarks, diagnosis); route limits stay.
 */
export async function registerRateLimits(app: FastifyInstance, options: ListenerRateLimits): Promise<void> {
  const { settings, store, listener, sourceOf } = options;
  const context: RateLimitContext = {
    settings,
    limited(request, limit) {
      const name = `${listener}:${limit}`;
      store.stats.limited.set(name, (store.stats.limited.get(name) ?? 0) + 1);
      options.onRateLimited?.(request, limit, listener);
    },
  };
  app.decorate('confideRateLimits', context);
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    store: store.forListener(listener),
    keyGenerator: (request) => sourceOf(request.ip),
    // Route limits without a name of their own (sign-up, staff enrolment) are reported by route.
    onExceeded: (request) => context.limited(request, request.routeOptions.url ?? 'route'),
    errorResponseBuilder: (_request, limit) => rateLimited(limit.ttl),
  });
  if (!settings.enabled) return;

  const perIp = app.createRateLimit({ max: settings.perIp, timeWindow: WINDOW_MS, keyGenerator: (request) => `ip:${sourceOf(request.ip)}` });
  app.addHook('onRequest', async (request, reply) => enforce(await perIp(request), 'ip', request, reply, context));

  const byPrincipal = principalLimiters(app, settings);
  app.addHook('preParsing', async (request, reply) => {
    for (const [limit, limiter] of byPrincipal(request.principal)) enforce(await limiter(request), limit, request, reply, context);
  });
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
type Verdict = Awaited<ReturnType<Limiter>>;

/** The limits an authenticated request counts against: its account or key, and its tenant. */
function principalLimiters(app: FastifyInstance, settings: RateLimitSettings) {
  const limiter = (max: number, key: (principal: Principal) => string) =>
    app.createRateLimit({ max, timeWindow: WINDOW_MS, keyGenerator: (request) => key(request.principal!) });
  const account = limiter(settings.perAccount, (p) => (p.kind === 'member' ? `user:${p.userId}` : p.kind === 'staff' ? `staff:${p.staffId}` : ''));
  const apiKey = limiter(settings.perApiKey, (p) => (p.kind === 'apiKey' ? `apiKey:${p.apiKeyId}` : ''));
  const tenant = limiter(settings.perTenant, (p) => `tenant:${p.tenantId ?? ''}`);
  return (principal: Principal | undefined): Array<[string, Limiter]> => {
    if (!principal) return [];
    // Staff are limited as people only: a grant's tenant is not theirs to use up.
    if (principal.kind === 'staff') return [['account', account]];
    return principal.kind === 'member' ? [['account', account], ['tenant', tenant]] : [['apiKey', apiKey], ['tenant', tenant]];
  };
}

/** Answers 429 for an exceeded limit; otherwise shows the tightest limit met so far in the `RateLimit-*` headers. */
function enforce(verdict: Verdict, limit: string, request: FastifyRequest, reply: FastifyReply, context: RateLimitContext): void {
  if (verdict.isAllowed) return;
  const shown = reply.getHeader('ratelimit-remaining');
  if (!verdict.isExceeded && shown !== undefined && Number(shown) <= verdict.remaining) return;
  reply.header('ratelimit-limit', verdict.max);
  reply.header('ratelimit-remaining', verdict.remaining);
  reply.header('ratelimit-reset', verdict.ttlInSeconds);
  if (!verdict.isExceeded) return;
  context.limited(request, limit);
  throw rateLimited(verdict.ttl);
}

/**
 * A route's stricter per-address limit, sized by the configuration when the request comes:
 * `config: { rateLimit: routeRateLimit('signIn') }`. Each route counts on its own.
 */
export function routeRateLimit(name: RouteLimit): RateLimitOptions {
  return {
    max: (request) => request.server.confideRateLimits.settings[ROUTE_LIMITS[name]],
    timeWindow: WINDOW_MS,
    onExceeded: (request) => request.server.confideRateLimits.limited(request, name),
  };
}

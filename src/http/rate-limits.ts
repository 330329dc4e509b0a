import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import type { Principal } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { ipv6Network48 } from '../lib/client-source.js';
import type { Count, RateLimitStore } from './rate-limit-store.js';

/**
 * Every limit counts requests in one-minute windows, with the plugin's own counters (memory or
 * Redis): a window starts at a client's first request and its count is reset a minute later. Over
 * any minute a client gets at most twice its limit (the end of one window and the start of the
 * next), over longer spans the limit per minute: a token bucket of the limit's size refilled at the
 * limit per minute, but with bursts of up to twice its size. Neither library the issue names
 * (@fastify/rate-limit 10.3, rate-limiter-flexible 11.4) has a token bucket with a shared store.
 */
const WINDOW_MS = 60_000;

export type RateLimitSettings = Readonly<Config['rateLimits']>;

/** The stricter per-address limits a route opts into with `config: { rateLimit: routeRateLimit('signIn') }`. */
const ROUTE_LIMITS = {
  signIn: 'signInsPerIp',
  passwordReset: 'passwordResetsPerIp',
  invitationSend: 'invitationSendsPerIp',
} as const satisfies Record<string, keyof RateLimitSettings>;
export type RouteLimit = keyof typeof ROUTE_LIMITS;

/**
 * The routes whose requests also count against their tenant's limit: its data (records, the access
 * log). Managing the tenant (API keys, members, sessions, settings, grants) is counted per account
 * and per address only, so a tenant's busy keys never lock its owner out of revoking them.
 */
const TENANT_DATA_ROUTES = ['/v1/collections/', '/v1/access-log'] as const;

export interface ListenerRateLimits {
  settings: RateLimitSettings;
  store: RateLimitStore;
  /** The listener's name: its counters are its own (`public`, `admin`). */
  listener: string;
  /** What one client counts as (the app passes the throttles' rule: an IPv4 address or an IPv6 /64). */
  sourceOf: (ip: string) => string;
  /** Told of every 429, naming the limit (`ip`, `ipv6Network`, `account`, `apiKey`, `tenant`, `signIn`, …). */
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

/** One limit a request counts against: its name (for events and metrics), its counter's key and its size. */
interface Limit {
  name: string;
  key: string;
  max: number;
}

const NO_LIMITS: readonly Limit[] = [];

/**
 * Request-rate limits of one listener, answered in the contract's shape: 429 RATE_LIMITED with
 * `Retry-After` and the IETF draft `RateLimit-*` headers.
 * - every request, before authentication (onRequest): per client address, and per IPv6 /48;
 * - once authenticated, before the body is read (preParsing): per account (user or staff member)
 *   or API key, and per tenant on its data routes, so one tenant's or key's flood cannot starve
 *   the others;
 * - routes opt into stricter per-address limits (@fastify/rate-limit's route options): sign-up (its
 *   own hourly one), sign-in steps, password-reset requests and invitation sends (`routeRateLimit`).
 * The general limits of one stage are counted straight on the store's counters, without a promise
 * per limit: they sit on every request's path (bench/run.ts measures what they cost).
 * CONFIDE_RATE_LIMITS=off drops the general limits (benchmarks, diagnosis); route limits stay.
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

  const check = limitChecker(store.counterFor(listener), context);
  app.addHook('onRequest', (request, reply, done) => check(addressLimits(settings, sourceOf, request.ip), request, reply, done));
  app.addHook('preParsing', (request, reply, payload, done) =>
    check(principalLimits(settings, request), request, reply, (error) => done(error ?? null, payload)),
  );
}

/** Per client address (an IPv4 address or IPv6 /64), and, for IPv6, the looser per-/48 aggregate. */
function addressLimits(settings: RateLimitSettings, sourceOf: (ip: string) => string, ip: string): readonly Limit[] {
  const address: Limit = { name: 'ip', key: `ip:${sourceOf(ip)}`, max: settings.perIp };
  // A /48 is one site's allocation: without this, its holder has 65,536 /64 budgets to rotate through.
  const network = ipv6Network48(ip);
  return network === null ? [address] : [address, { name: 'ipv6Network', key: `net:${network}`, max: settings.perIpv6Network }];
}

/** The limits an authenticated request counts against: its account or key, and its tenant on data routes. */
function principalLimits(settings: RateLimitSettings, request: FastifyRequest): readonly Limit[] {
  const principal: Principal | undefined = request.principal;
  if (!principal) return NO_LIMITS;
  // Staff are limited as people only: a grant's tenant is not theirs to use up.
  if (principal.kind === 'staff') return [{ name: 'account', key: `staff:${principal.staffId}`, max: settings.perAccount }];
  const own: Limit =
    principal.kind === 'member'
      ? { name: 'account', key: `user:${principal.userId}`, max: settings.perAccount }
      : { name: 'apiKey', key: `apiKey:${principal.apiKeyId}`, max: settings.perApiKey };
  const route = request.routeOptions.url ?? '';
  if (!TENANT_DATA_ROUTES.some((prefix) => route.startsWith(prefix))) return [own];
  return [own, { name: 'tenant', key: `tenant:${principal.tenantId}`, max: settings.perTenant }];
}

/**
 * Counts a request against `limits` in order and answers through `done`: a 429 for the first
 * exceeded, or nothing, with the tightest limit in the `RateLimit-*` headers. The order matters:
 * a client's own limit (its address, account or key) comes before the aggregate it shares (the
 * IPv6 /48, the tenant), and a request its own limit refuses is not counted against the aggregate,
 * so one runaway key or /64 cannot spend its tenant's or its neighbours' budget. The memory store
 * answers synchronously, Redis by callback.
 */
function limitChecker(count: Count, context: RateLimitContext) {
  return (limits: readonly Limit[], request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    let tightest: { limit: Limit; remaining: number; ttl: number } | undefined;
    const countFrom = (index: number): void => {
      if (index === limits.length) {
        if (tightest) showTighter(reply, tightest.limit.max, tightest.remaining, tightest.ttl);
        return done();
      }
      const limit = limits[index]!;
      count(limit.key, WINDOW_MS, limit.max, (error, counted) => {
        if (error || !counted) return done(error ?? new Error('rate-limit store answered nothing'));
        const remaining = limit.max - counted.current;
        if (remaining < 0) {
          showLimit(reply, limit.max, 0, counted.ttl);
          context.limited(request, limit.name);
          return done(rateLimited(counted.ttl));
        }
        if (!tightest || remaining < tightest.remaining) tightest = { limit, remaining, ttl: counted.ttl };
        countFrom(index + 1);
      });
    };
    countFrom(0);
  };
}

/** Shows a limit in the `RateLimit-*` headers unless an earlier stage already showed a tighter one. */
function showTighter(reply: FastifyReply, max: number, remaining: number, ttlMs: number): void {
  const shown = reply.getHeader('ratelimit-remaining');
  if (shown !== undefined && Number(shown) <= remaining) return;
  showLimit(reply, max, remaining, ttlMs);
}

function showLimit(reply: FastifyReply, max: number, remaining: number, ttlMs: number): void {
  reply.header('ratelimit-limit', max);
  reply.header('ratelimit-remaining', remaining);
  reply.header('ratelimit-reset', Math.ceil(ttlMs / 1000));
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

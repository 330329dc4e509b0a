import { createRequire } from 'node:module';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** A counter's state after one increment: requests counted in the window, and ms until it resets. */
export interface CountLimit {
  current: number;
  ttl: number;
}

type Counted = (error: Error | null, result?: CountLimit) => void;

/** Counts one request under `key` (already namespaced by listener) in a window of `windowMs`. */
export type Count = (key: string, windowMs: number, max: number, counted: Counted) => void;

/** What @fastify/rate-limit's own stores do: count one request under `key` in a window of `timeWindow` ms. */
interface Counter {
  incr(key: string, counted: Counted, timeWindow: number, max: number): void;
}

// The plugin's two stores, used as they are: its in-memory LRU of fixed windows, and its Redis one
// (one atomic Lua INCR + PEXPIRE per request). They are not in its typed exports, hence require.
const require = createRequire(import.meta.url);
const LocalStore = require('@fastify/rate-limit/store/LocalStore') as new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => Counter;
const RedisStore = require('@fastify/rate-limit/store/RedisStore') as new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => Counter;

/** Keys the in-memory store keeps (LRU): enough for every source of a flood from many addresses to be counted. */
const LOCAL_KEYS = 100_000;
/** A Redis answer slower than this is treated as an outage: a request never waits long on the limiter. */
const REDIS_COMMAND_TIMEOUT_MS = 250;
/** After a failure, Redis is not asked again for this long (the local counters answer meanwhile). */
const REDIS_RETRY_AFTER_MS = 1_000;

/** Counts that monitoring reads (E5's metrics): Redis failures, and 429s by listener and limiter. */
export interface RateLimitStats {
  /** Counter increments Redis failed (refused, timed out, down) and this node's memory took instead. */
  redisFailures: number;
  /** 429 answers, by `listener:limit` (`public:ip`, `admin:signIn`, …). */
  limited: Map<string, number>;
}

export interface RateLimitStore {
  /** The plugin's `store` option for one listener: its counters live under their own namespace. */
  forListener(listener: string): FastifyRateLimitStoreCtor;
  /** The same counters, called directly (the general limits count several keys per request in one pass). */
  counterFor(listener: string): Count;
  readonly stats: RateLimitStats;
  /** Where the counters live, for the start-up log line. */
  readonly kind: 'memory' | 'redis';
  close(): Promise<void>;
}

/** Where CONFIDE_REDIS_URL points, for the logs: host and port, never the password. */
function redisAddress(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || 6379}`;
}

/**
 * The rate-limit counters of this process: in memory, or in Redis when CONFIDE_REDIS_URL is set, so
 * that every node counts against the same limit. Redis failing must not take the API down, nor open
 * it to floods, whether it fails while serving or is already down at start (a Redis outage during a
 * rolling restart must not become an API outage): each increment Redis cannot make is made in this
 * node's memory instead (the limits then hold per node), logged once per outage (at start, naming
 * host, port and CONFIDE_REDIS_URL) and counted in `stats.redisFailures`. The client keeps
 * reconnecting in the background, and the shared counters resume as soon as Redis answers. A
 * malformed CONFIDE_REDIS_URL is refused earlier, by the configuration.
 */
export async function openRateLimitStore(redisUrl: string | null, logger: Logger): Promise<RateLimitStore> {
  const stats: RateLimitStats = { redisFailures: 0, limited: new Map() };
  const local = new LocalStore(false, false, LOCAL_KEYS);
  if (redisUrl === null) {
    const count = (key: string, counted: Counted, window: number, max: number) => local.incr(key, counted, window, max);
    return { kind: 'memory', stats, forListener: (listener) => storeClass(`${listener}:`, count), counterFor: (listener) => counterFor(`${listener}:`, count), close: async () => {} };
  }
  const { redis, reached } = await connectRedis(redisUrl);
  const shared = new RedisStore(false, false, redis, 'confide:rate:');
  // Down at start is an outage like any other: already logged (below), so not logged again by the first failed increment.
  const outage = { failing: !reached.ok, retryAt: 0 };
  if (!reached.ok) {
    logger.warn(
      { redis: redisAddress(redisUrl), err: reached.error },
      `rate limits: cannot reach Redis at ${redisAddress(redisUrl)} (CONFIDE_REDIS_URL) at start; counting in this node’s memory (limits hold per node) and retrying until it is back`,
    );
  }
  const count = (key: string, counted: Counted, window: number, max: number): void => {
    const fallBack = () => local.incr(key, counted, window, max);
    if (outage.failing && Date.now() < outage.retryAt) return fallBack();
    shared.incr(key, (error, result) => {
      if (!error) {
        if (outage.failing) logger.info('rate limits: Redis answers again; counters are shared across nodes once more');
        outage.failing = false;
        return counted(null, result);
      }
      stats.redisFailures += 1;
      if (!outage.failing) logger.warn({ err: error }, 'rate limits: Redis is unreachable; counting in this node’s memory until it is back');
      outage.failing = true;
      outage.retryAt = Date.now() + REDIS_RETRY_AFTER_MS;
      fallBack();
    }, window, max);
  };
  return {
    kind: 'redis',
    stats,
    forListener: (listener) => storeClass(`${listener}:`, count),
    counterFor: (listener) => counterFor(`${listener}:`, count),
    async close() {
      redis.disconnect();
    },
  };
}

/** The client, and whether Redis answered at start; if not, the client keeps reconnecting in the background. */
async function connectRedis(url: string): Promise<{ redis: Redis; reached: { ok: true } | { ok: false; error: unknown } }> {
  // Loaded only with CONFIDE_REDIS_URL set: a node counting in its own memory never needs it, and
  // it costs about 40 ms at every start.
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    // Fail a command at once while disconnected rather than queue it: requests must not wait for Redis.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    // Keep reconnecting in the background, every few seconds at most.
    retryStrategy: (attempt) => Math.min(attempt * 250, 3_000),
  });
  // Connection errors are reported through the failed increments above; without a listener ioredis would print them.
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return { redis, reached: { ok: true } };
  } catch (error) {
    return { redis, reached: { ok: false, error } };
  }
}

/**
 * A store class as the plugin wants it (`new Store(options)`, then `child(route)` per route with
 * its own limit): every counter's key starts with the listener and, for a route's own limit, the
 * route, so limiters never share a count by accident.
 */
function storeClass(prefix: string, count: (key: string, counted: Counted, window: number, max: number) => void): FastifyRateLimitStoreCtor {
  const make = (keyPrefix: string) => ({
    incr(key: string, counted: Counted, window?: number, max?: number) {
      count(`${keyPrefix}${key}`, counted, window ?? 60_000, max ?? 0);
    },
    child(route: { routeInfo?: { method?: string | string[]; url?: string } }) {
      const info = route.routeInfo ?? {};
      return make(info.url ? `${keyPrefix}${String(info.method)}${info.url}:` : keyPrefix);
    },
  });
  return function RateLimitCounters() {
    return make(prefix);
  } as unknown as FastifyRateLimitStoreCtor;
}

/** Direct access to the counters under a listener's prefix: the keys never meet the plugin's route counters (`${prefix}${METHOD}/url:`). */
function counterFor(prefix: string, count: (key: string, counted: Counted, window: number, max: number) => void): Count {
  return (key, windowMs, max, counted) => count(`${prefix}${key}`, counted, windowMs, max);
}

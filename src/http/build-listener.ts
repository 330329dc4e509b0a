import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { ErrorDetails } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { RequestLog } from './request-log.js';
import type { Authenticator } from './authenticate.js';
import type { ListenerMetrics } from './listener-metrics.js';
import { clientErrorHandler } from './client-error-handler.js';
import { capConnections } from './connection-caps.js';
import { frameworkErrorHandler } from './framework-errors.js';
import { TLS_HANDSHAKE_TIMEOUT_MS } from './http-limits.js';
import { registerListenerPlumbing, type OpenApiDescription } from './listener-plumbing.js';
import { addBodyDeadlines } from './body-deadline.js';
import { openRateLimitStore } from './rate-limit-store.js';
import type { ListenerRateLimits } from './rate-limits.js';
import { tlsOptionsFor } from './tls-profile.js';
import type { Router } from './route-types.js';

export type { OpenApiDescription } from './listener-plumbing.js';

/** Routes that seal nothing and must answer while the database is away. */
const WITHOUT_CATCH_UP = new Set(['/healthz', '/metrics']);

export interface ListenerOptions {
  /** Which listener this is (`public`, later `admin`): how the wiring and its logs name it. */
  name: string;
  config: Readonly<Config>;
  logger: Logger;
  tls: { cert: string; key: string };
  /**
   * PEM bundle of the CAs that client certificates must chain to. When given, the TLS handshake
   * asks for a client certificate and refuses a connection without a valid one (mutual TLS).
   */
  clientCa?: string;
  /** How this listener's bearer tokens become principals (its realm): handed to `routes`. */
  authenticate: Authenticator;
  openapi: OpenApiDescription;
  /** Told of every 403, so refused actions become security events (ASVS 16.3.2), and of every 503 for the access log or a full or failing store. */
  onRefused?: (request: FastifyRequest, code: string, details?: ErrorDetails) => void;
  /** Told of every answer and every error answered (the wiring binds it to this listener's name). */
  metrics?: ListenerMetrics;
  /**
   * The rate-limit counters both listeners share (memory or Redis), what one client counts as, and
   * who is told of each 429. Unset: counters of its own in memory, per address.
   */
  rateLimits?: Omit<ListenerRateLimits, 'listener' | 'settings'>;
  /** Proxies whose X-Forwarded-For this listener believes (each listener has its own list). */
  trustedProxies: readonly string[];
  /**
   * Asked before each request is handled: a promise when the process must first catch up on
   * something (KeySync: key rotations made elsewhere), undefined when nothing is to wait for.
   */
  catchUp?: () => Promise<void> | undefined;
  /** Registers the listener's routes; called once the shared plumbing is in place. */
  routes: (router: Router, authenticate: Authenticator) => void;
}

export interface Listener {
  name: string;
  server: FastifyInstance;
}

/**
 * One HTTPS listener with everything every listener shares: the TLS profile and handshake
 * timeout, timeouts and limits that bound what a slow or large client can hold, one error edge
 * for what Node, the router and the routes refuse, JSON-only bodies, rate limits, security
 * headers, a request log, its own OpenAPI description, `/healthz` and nothing else (no debug
 * endpoints; `/metrics` only where a routes table adds it, the admin one: ASVS 13.4.2). What
 * differs between listeners is in `options`.
 */
export async function buildListener(options: ListenerOptions): Promise<Listener> {
  const { config, trustedProxies } = options;
  // Typed as Fastify's logger interface so the instance keeps Fastify's default logger type.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({
    https: {
      ...tlsOptionsFor(config.tls.profile, options.tls),
      ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
      headersTimeout: config.http.headersTimeoutMs,
      // Off in Node: the total request time is bounded per route by addBodyDeadlines (below), so a
      // streamed upload on a slow link is governed by its progress instead of a fixed 30 s.
      requestTimeout: 0,
      // Node checks those timeouts only this often (default 30 s): check every second, so a
      // slowloris client is cut off at the header timeout, not up to 30 s later.
      connectionsCheckingInterval: 1_000,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    },
    // What Node's parser and Fastify's router refuse is answered through the same error edge.
    clientErrorHandler: clientErrorHandler(loggerInstance),
    frameworkErrors: frameworkErrorHandler,
    loggerInstance,
    logController: new RequestLog(options.name, options.metrics), // one log line per request, naming its listener
    genReqId: () => newId(),
    bodyLimit: config.http.bodyLimitBytes,
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    // X-Forwarded-For is believed only from these peers (proxy-addr), never otherwise (ASVS 15.3.4):
    // request.ip, and so the rate limits, throttles, security events and access log, follow it.
    trustProxy: trustedProxies.length > 0 ? [...trustedProxies] : false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  capConnections(app.server, options.name, {
    perIp: config.http.maxConnectionsPerIp,
    total: config.http.maxConnections,
    trustedProxies,
    onRefused: (reason) => options.metrics?.connectionRefused(reason),
  });

  const rateLimits = options.rateLimits ?? { store: await openRateLimitStore(null, options.logger), sourceOf: (ip: string) => ip };
  await registerListenerPlumbing(app, options.openapi, options.onRefused, options.metrics, { ...rateLimits, listener: options.name, settings: config.rateLimits });
  addBodyDeadlines(app, { requestTimeoutMs: config.http.requestTimeoutMs, uploadStallMs: config.http.uploadStallMs });
  const catchUp = options.catchUp;
  if (catchUp) {
    // A callback hook: the usual case (nothing to wait for) costs no promise.
    app.addHook('onRequest', (request, _reply, done) => {
      // Liveness and metrics answer without the database: they must go on working when it does not.
      if (WITHOUT_CATCH_UP.has(request.routeOptions.url ?? '')) return done();
      const pending = catchUp();
      if (pending) pending.then(() => done(), done);
      else done();
    });
  }
  options.routes(app, options.authenticate);
  await app.ready();
  return { name: options.name, server: app };
}

import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Config } from '../config/config.js';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { sendError, toAppError } from './error-response.js';
import { clientErrorHandler } from './client-error-handler.js';
import { frameworkErrorHandler } from './framework-errors.js';
import { TLS_HANDSHAKE_TIMEOUT_MS } from './http-limits.js';
import { registerJsonBodyParser } from './json-body-parser.js';
import { HELMET_OPTIONS } from './security-headers.js';
import { refuseLongUrls } from './url-length-guard.js';
import { tlsOptionsFor } from './tls-profile.js';
import { validatorCompiler } from './validators.js';
import { registerRateLimits } from './rate-limits.js';
import { RequestLog } from './request-log.js';
import { declareEdgeErrors } from './declared-errors.js';
import type { Router } from './route-types.js';

export interface PublicServerOptions {
  config: Readonly<Config>;
  logger: Logger;
  tls: { cert: string; key: string };
  /** Told of every 403, so refused actions become security events (ASVS 16.3.2). */
  onRefused?: (request: FastifyRequest, code: string) => void;
  /** Registers each domain's routes; called once the shared plumbing is in place. */
  routes: (router: Router) => void;
}

/**
 * The public listener: HTTPS only, the customer API and nothing else (no debug or metrics
 * endpoints: ASVS 13.4.2). Timeouts and limits bound what a slow or large client can hold.
 */
export async function buildPublicServer(options: PublicServerOptions): Promise<FastifyInstance> {
  const { config } = options;
  // Typed as Fastify's logger interface so the instance keeps Fastify's default logger type.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({
    https: {
      ...tlsOptionsFor(config.tls.profile, options.tls),
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      // Node checks those timeouts only this often (default 30 s): check every second, so a
      // slowloris client is cut off at the header timeout, not up to 30 s later.
      connectionsCheckingInterval: 1_000,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    },
    // What Node's parser and Fastify's router refuse is answered through the same error edge.
    clientErrorHandler: clientErrorHandler(loggerInstance),
    frameworkErrors: frameworkErrorHandler,
    loggerInstance,
    logController: new RequestLog(), // one log line per request
    genReqId: () => newId(),
    bodyLimit: config.http.bodyLimitBytes,
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  // JSON only: any other body type is answered 415 rather than parsed as text.
  app.removeContentTypeParser('text/plain');
  registerJsonBodyParser(app);
  declareEdgeErrors(app);
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error as Error, request);
    if (appError.status === 403) options.onRefused?.(request, appError.code);
    return sendError(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new AppError('NOT_FOUND')));
  app.decorateRequest('principal', undefined);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
  });

  await registerRateLimits(app);
  await app.register(helmet, HELMET_OPTIONS);
  refuseLongUrls(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Confide public API',
        version: '1',
        description: 'Customer data, encrypted at rest under per-tenant keys, every access logged. Errors use the shape {"error": {"code", "message", "requestId", "details"?}}; see docs/errors.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session token (cfs_…, from POST /v1/sessions) or an API key (cfk_…, from POST /v1/api-keys): `Authorization: Bearer <token>`' } } },
    },
  });

  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'Liveness: no authentication, no customer data', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  options.routes(app);
  await app.ready();
  return app;
}

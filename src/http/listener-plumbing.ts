import type { FastifyInstance, FastifyRequest } from 'fastify';
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { Type } from 'typebox';
import { AppError, type ErrorDetails } from '../lib/app-error.js';
import { declareEdgeErrors } from './declared-errors.js';
import { sendError, toAppError } from './error-response.js';
import { registerJsonBodyParser } from './json-body-parser.js';
import type { ListenerMetrics } from './listener-metrics.js';
import { registerRateLimits, type ListenerRateLimits } from './rate-limits.js';
import { addSecurityHeaders } from './security-headers.js';
import { refuseLongUrls } from './url-length-guard.js';
import { serializerCompiler, validatorCompiler } from './validators.js';
import { firstUseCompilation } from './first-use-compilation.js';

type OpenApiDocument = NonNullable<FastifyDynamicSwaggerOptions['openapi']>;

/** A listener's own OpenAPI 3.1 description, served at `path` (public: `/v1/openapi.json`). */
export interface OpenApiDescription {
  path: string;
  title: string;
  version: string;
  description: string;
  /** How this listener's callers authenticate, by name (routes refer to them in `security`). */
  securitySchemes: NonNullable<OpenApiDocument['components']>['securitySchemes'];
}

/**
 * The plumbing every listener shares, in the order it must be registered: validation, JSON-only
 * bodies, the error edge (with `onRefused` told of every 403), request ids and no-store on every
 * answer, rate limits, security headers, the long-URL guard, OpenAPI and `/healthz`.
 */
export async function registerListenerPlumbing(
  app: FastifyInstance,
  openapi: OpenApiDescription,
  onRefused: ((request: FastifyRequest, code: string, details?: ErrorDetails) => void) | undefined,
  metrics: ListenerMetrics | undefined,
  rateLimits: ListenerRateLimits,
): Promise<void> {
  const compilation = firstUseCompilation(app);
  app.setValidatorCompiler(validatorCompiler(compilation));
  app.setSerializerCompiler(serializerCompiler(compilation));
  // JSON only: any other body type is answered 415 rather than parsed as text.
  app.removeContentTypeParser('text/plain');
  registerJsonBodyParser(app);
  declareEdgeErrors(app);
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error as Error, request);
    metrics?.errorAnswered(appError.code, appError.status);
    // 403s, access-log write failures and a full or failing store: security events the monitor watches.
    if (appError.status === 403 || appError.code === 'AUDIT_UNAVAILABLE' || isStorageRefusal(appError)) onRefused?.(request, appError.code, appError.details);
    return sendError(request, reply, appError);
  });
  app.setNotFoundHandler((request, reply) => {
    metrics?.errorAnswered('NOT_FOUND', 404);
    return sendError(request, reply, new AppError('NOT_FOUND'));
  });
  // Set by the authentication hook; known to the error edge even when the request is refused.
  app.decorateRequest('principal', undefined);
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    done(null, payload);
  });

  // Security headers first: a request refused by an earlier onRequest hook (a 429) carries them too.
  addSecurityHeaders(app);
  await registerRateLimits(app, rateLimits);
  refuseLongUrls(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: openapi.title, version: openapi.version, description: openapi.description },
      components: { securitySchemes: openapi.securitySchemes },
    },
  });

  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'Liveness: no authentication, no customer data', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(openapi.path, { schema: { hide: true } }, async () => app.swagger());
}

/** A 503 saying the store is full or failing (`details.reason` storage_full or storage_failed). */
function isStorageRefusal(error: AppError): boolean {
  return error.code === 'UNAVAILABLE' && (error.details?.reason === 'storage_full' || error.details?.reason === 'storage_failed');
}

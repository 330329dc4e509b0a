import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errorResponses } from '../http/error-schema.js';
import type { Router } from '../http/route-types.js';
import { AppError } from '../lib/app-error.js';
import type { MetricsAccess } from './metrics-access.js';
import type { Metrics } from './metrics.js';

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]+=*)$/;

/**
 * GET /metrics, on the admin listener only (the public one has no such route: 404, ASVS 13.4.2):
 * Prometheus' text format for a scraper holding CONFIDE_METRICS_TOKEN or a verified admin client
 * certificate, checked in onRequest like every other route's credentials.
 */
export function metricsRoutes(
  app: Router,
  metrics: Pick<Metrics, 'scrape'>,
  access: (token: string | undefined, certificateVerified: boolean) => MetricsAccess,
): void {
  const guard = async (request: FastifyRequest): Promise<void> => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    // Over a real connection the socket is TLS; `authorized` is true only when the handshake verified a client certificate.
    const verified = (request.raw.socket as Partial<TLSSocket>).authorized === true;
    const answer = access(token, verified);
    if (answer === 'disabled') throw new AppError('NOT_FOUND');
    if (answer === 'unauthenticated') throw new AppError('UNAUTHENTICATED', { details: { reason: 'authentication_required' } });
  };
  app.get(
    '/metrics',
    {
      onRequest: guard,
      schema: {
        tags: ['operations'],
        security: [{ metricsBearer: [] }],
        summary: 'Prometheus metrics (CONFIDE_METRICS_TOKEN or an admin client certificate)',
        description:
          'The Prometheus text exposition format 0.0.4: requests by route and status, latency, access-log appends and failures, ' +
          'group-commit batch sizes, rate-limited answers, refused connections, alerts not resolved by rule, mail and webhook queue depth, ' +
          'the certificate expiry time and security events by type (docs/deployment.md). 404 when neither CONFIDE_METRICS_TOKEN ' +
          'nor CONFIDE_ADMIN_CLIENT_CA is set.',
        response: {
          200: { description: 'Prometheus text format', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: Type.String() } } },
          ...errorResponses(401, 404),
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );
}

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { sendError, toAppError } from './error-response.js';
import { securityHeaders } from './security-headers.js';

/**
 * For Fastify's `frameworkErrors` option: errors its router raises before a route is chosen (a
 * path parameter over `maxParamLength`, a URL that does not decode). No hooks have run for such a
 * request, so the security headers are added here; the answer goes through the one error edge.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers({ ...securityHeaders(), 'cache-control': 'no-store', 'x-request-id': request.id, connection: 'close' });
  void sendError(request, reply, toAppError(error, request));
}

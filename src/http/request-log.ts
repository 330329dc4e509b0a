import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ListenerMetrics } from './listener-metrics.js';

/** The levels at which an info line is written. */
const LOGS_INFO = new Set(['trace', 'debug', 'info']);

/**
 * One log line per request, once the answer is sent, instead of Fastify's "incoming request" and
 * "request completed" pair: method, route, status, duration in ms, and the request id (reqId, the
 * x-request-id header) that request.log carries. The route is the pattern
 * (`/v1/collections/:collection/records/:id`), never the URL: paths and query strings can carry
 * tokens and customer data. Each line names its listener (`public`, `admin`), so an operator tells
 * a staff request from a customer's at a glance. Fastify's other log lines (stream and serializer
 * errors) stay as they are. The same moment feeds the request metrics, so both listeners count
 * every answer in this one place.
 */
export class RequestLog extends LogController {
  constructor(
    private readonly listener: string,
    private readonly metrics?: ListenerMetrics,
  ) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? '(no route)';
    this.metrics?.requestCompleted(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    // Above info (warn, a busy deployment's usual level) the line would be dropped: not built either.
    if (!error && !LOGS_INFO.has(reply.log.level)) return;
    const durationMs = Math.round(reply.elapsedTime * 10) / 10;
    const line = { listener: this.listener, method: request.method, route, statusCode: reply.statusCode, durationMs };
    const message = `${request.method} ${route} ${reply.statusCode} ${durationMs} ms`;
    // An error here means the response itself failed (e.g. the socket broke), not an error answer.
    if (error) reply.log.error({ ...line, err: error }, message);
    else reply.log.info(line, message);
  }
}

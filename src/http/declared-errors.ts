import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorBody } from './error-schema.js';

/**
 * Adds to every route's OpenAPI responses the errors the shared plumbing can answer on its own,
 * so the description never forgets one: a route that authenticates can answer 401 and 403 (no
 * role, MFA_REQUIRED, EMAIL_NOT_VERIFIED); one that takes input can answer 400; one with a body
 * 413 and 415; every one 429 (rate limits). Routes still declare what their use case adds (404, 409, …).
 * Every route can also answer 414, 431 and 500; those are documented once, in docs/errors.md.
 */
export function declareEdgeErrors(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as (Record<string, unknown> & { response?: Record<string, unknown> }) | undefined;
    if (!schema || schema.hide) return;
    const statuses: number[] = [];
    if (schema.security) statuses.push(401, 403);
    if (schema.body || schema.params || schema.querystring || schema.headers) statuses.push(400);
    if (schema.body) statuses.push(413, 415);
    // Every request counts against its client address's rate limit (and, signed in, its account's): any route can answer 429.
    statuses.push(429);
    const response = { ...(schema.response ?? {}) };
    for (const status of statuses) response[status] ??= ErrorBody;
    schema.response = response;
  });
}

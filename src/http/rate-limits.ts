import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/app-error.js';

/**
 * Per-route request-rate limits (token buckets kept in memory, keyed by client IP), answered in
 * the contract's shape: 429 RATE_LIMITED with `Retry-After` and the IETF draft `RateLimit-*`
 * headers. Routes opt in with `config: { rateLimit: { max, timeWindow } }`; none is global yet.
 */
export async function registerRateLimits(app: FastifyInstance): Promise<void> {
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) }),
  });
}

import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/app-error.js';
import { MAX_URL_LENGTH } from './http-limits.js';

/**
 * Refuses a path plus query longer than MAX_URL_LENGTH with 414 URI_TOO_LONG. Register it after
 * the security-header hook, so the refusal carries those headers like any other answer.
 */
export function refuseLongUrls(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.raw.url !== undefined && request.raw.url.length > MAX_URL_LENGTH) {
      reply.header('connection', 'close');
      done(new AppError('URI_TOO_LONG', { details: { limit: MAX_URL_LENGTH } }));
      return;
    }
    done();
  });
}

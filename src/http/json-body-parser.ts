import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/app-error.js';
import { MAX_JSON_DEPTH } from './http-limits.js';

/**
 * Parses every `application/json` body with Fastify's own safe parser (secure-json-parse:
 * `__proto__` and `constructor.prototype` keys are refused), then refuses, before any route
 * sees it, a body that later code could not handle: nested deeper than MAX_JSON_DEPTH, or holding
 * a number JSON can write but JavaScript cannot hold (`1e999` parses as Infinity and would be
 * stored as null).
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    void parse(request, body as string, (error, value) => {
      if (error) return done(error, undefined);
      const problem = bodyProblem(value);
      if (problem) return done(problem, undefined);
      done(null, value);
    });
  });
}

/** Walks the parsed body with an explicit stack: a recursive walk would itself overflow on the bodies it exists to refuse. */
export function bodyProblem(body: unknown): AppError | undefined {
  const nodes: unknown[] = [body];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (typeof node === 'number' && !Number.isFinite(node)) {
      return new AppError('VALIDATION_FAILED', {
        message: 'The request body holds a number too large to represent.',
        details: { field: 'body', reason: 'number_out_of_range' },
      });
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      return new AppError('VALIDATION_FAILED', {
        message: `The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`,
        details: { field: 'body', reason: 'too_deep', limit: MAX_JSON_DEPTH },
      });
    }
    for (const child of Object.values(node)) {
      nodes.push(child);
      depths.push(depth + 1);
    }
  }
  return undefined;
}

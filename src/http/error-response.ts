import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../lib/app-error.js';
import { STORAGE_RETRY_AFTER_SECONDS, storageFault } from '../lib/storage-fault.js';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnreachable } from '../db/database-unreachable.js';

/** The contract's error body: `{"error": {"code", "message", "requestId", "details"?}}`. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  if (error.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer');
  return reply.code(error.status).send({
    error: {
      code: error.code,
      message: error.message,
      requestId: request.id,
      ...(error.details ? { details: error.details } : {}),
    },
  });
}

const STORAGE_MESSAGES = {
  storage_full: 'Storage is full: nothing was changed. Try again later.',
  storage_failed: 'Storage failed: nothing was changed. Try again later.',
} as const;

const FRAMEWORK_ERRORS: Record<string, () => AppError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AppError('PAYLOAD_TOO_LARGE'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new AppError('UNSUPPORTED_MEDIA_TYPE'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new AppError('BAD_REQUEST', { message: 'The Content-Length does not match the body.' }),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AppError('BAD_REQUEST', { message: 'The request body is empty; send a JSON object.' }),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new AppError('BAD_REQUEST', { message: 'The request body is not valid JSON.' }),
  // The router's own errors: neither the path nor the framework's code is echoed back.
  FST_ERR_MAX_PARAM_LENGTH: () => new AppError('URI_TOO_LONG', { message: 'A path segment is too long.' }),
  FST_ERR_BAD_URL: () => new AppError('BAD_REQUEST', { message: 'The URL is not valid.' }),
};

/**
 * The one edge where anything thrown becomes a public error. Framework and validation errors map
 * to catalogue codes; anything unknown is logged in full and answered as INTERNAL, with nothing
 * of its cause in the response.
 */
export function toAppError(error: FastifyError | Error, request: FastifyRequest): AppError {
  if (isAppError(error)) {
    if (error.status >= 500) request.log.error({ err: error.cause ?? error, code: error.code }, 'request failed');
    return error;
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) return validationError(fastifyError);
  const mapped = fastifyError.code ? FRAMEWORK_ERRORS[fastifyError.code] : undefined;
  if (mapped) return mapped();
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return new AppError('BAD_REQUEST', { message: 'The request body is not valid JSON.' });
  }
  if (fastifyError.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE');
  if (fastifyError.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE');
  const fault = storageFault(error);
  if (fault) {
    // A full or failing store is the operator's to fix and the client's to retry, not a bug: 503, not 500.
    request.log.error({ err: error, storage: fault }, 'storage full or failing');
    return new AppError('UNAVAILABLE', { message: STORAGE_MESSAGES[fault.reason], details: fault, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause: error });
  }
  if (databaseUnreachable(error)) {
    // The primary is gone or not yet replaced (a failover): it passes by itself, so 503 and retry, not 500.
    request.log.warn({ err: error }, 'database unreachable');
    return new AppError('UNAVAILABLE', {
      message: 'The database cannot be reached just now; try again shortly.',
      details: { reason: 'database_unavailable', component: 'database' },
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
      cause: error,
    });
  }
  request.log.error({ err: error }, 'unexpected error');
  return new AppError('INTERNAL');
}

function validationError(error: FastifyError): AppError {
  const first = error.validation?.[0];
  const params = (first?.params ?? {});
  const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const child = (params.additionalProperty ?? params.missingProperty) as string | undefined;
  const field = [error.validationContext === 'body' ? '' : error.validationContext, path, child].filter(Boolean).join('.');
  const reason =
    first?.keyword === 'additionalProperties' ? 'unknown_field' : first?.keyword === 'required' ? 'missing' : first?.keyword ?? 'invalid';
  const message =
    reason === 'unknown_field'
      ? `Unknown field "${field}".`
      : reason === 'missing'
        ? `The field "${field}" is required.`
        : `The field "${field || error.validationContext}" ${first?.message ?? 'is not valid'}.`;
  return new AppError('VALIDATION_FAILED', { message, details: { field: field || error.validationContext, reason } });
}

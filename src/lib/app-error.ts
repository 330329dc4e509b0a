import { ERROR_CATALOGUE, type ErrorCode } from './error-catalogue.js';

export type ErrorDetails = Record<string, unknown>;

export interface AppErrorOptions {
  message?: string;
  details?: ErrorDetails;
  /** Seconds the client should wait; sent as `Retry-After`. */
  retryAfterSeconds?: number;
  /** The private cause: logged, never serialised into a response. */
  cause?: unknown;
}

/**
 * The one error type that crosses layers. Its `code`, `message` and `details` are public;
 * its `cause` stays private to the logs.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? ERROR_CATALOGUE[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

export const notFound = (): AppError => new AppError('NOT_FOUND');

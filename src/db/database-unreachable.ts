import { isAppError } from '../lib/app-error.js';
import { ObjectStoreError } from '../storage/object-store.js';

/**
 * Recognises a PostgreSQL server that is gone or not (yet) the primary, as during a failover: the
 * connection broke, could not be made, or reached a server that is shutting down, starting up or
 * read-only (a demoted primary). The one edge that answers errors turns these into 503
 * UNAVAILABLE with `Retry-After` instead of 500: the condition passes by itself once a new primary
 * takes over (scripts/ha-demo.sh measures how long), and the client should try again.
 */

/** What a client is told to wait (`Retry-After`): a Patroni failover with the reference timings takes 10–15 s. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

// node-postgres's own words for a connection that broke or never opened (it sets no code on them).
const PG_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect',
];

// SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html
const SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping (a switchover, a fast shutdown)
  '57P02', // crash_shutdown: another backend crashed and the server is resetting
  '57P03', // cannot_connect_now: starting up, in recovery
  '25006', // read_only_sql_transaction: a write reached a standby or a demoted primary
]);

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * True when the error (or one in its `cause` chain) says the database cannot be reached now.
 *
 * Only what the PostgreSQL driver raises counts: the walk stops at an error that is another
 * store's (ObjectStoreError: S3 or the backup folder; an S3 SDK error, which carries `$metadata`)
 * or already has its answer (AppError). A socket code counts only on an error of a socket call
 * (`syscall`: connect, read, write), as node-postgres passes its connection's errors on; a client
 * that went away mid-upload is also ECONNRESET, but from the request stream, with no `syscall`,
 * and it is no database outage.
 */
export function databaseUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 8; depth += 1) {
    if (notTheDatabase(current)) return false;
    const { code, message, syscall } = current as { code?: unknown; message?: unknown; syscall?: unknown };
    if (typeof code === 'string' && (SQLSTATES.has(code) || code.startsWith('08'))) return true;
    if (typeof code === 'string' && SOCKET_CODES.has(code) && typeof syscall === 'string') return true;
    if (typeof message === 'string' && PG_MESSAGES.some((text) => message.startsWith(text))) return true;
    if (current instanceof AggregateError && current.errors.some((inner) => databaseUnreachable(inner))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function notTheDatabase(error: object): boolean {
  return error instanceof ObjectStoreError || isAppError(error) || '$metadata' in error;
}

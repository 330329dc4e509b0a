import { AppError, isAppError } from '../lib/app-error.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../lib/storage-fault.js';

/** Blob and tenant names: random hex, and tenant ids (UUIDs), never anything a client chose. */
export const SAFE_BLOB_NAME = /^[0-9a-f-]{1,64}$/;

/** Refuses a name that is not a blob's or a tenant's, so no path or key can be steered by one. */
export function checkedBlobName(name: string): string {
  if (!SAFE_BLOB_NAME.test(name)) throw new Error('not a blob or tenant name');
  return name;
}

/**
 * What a failed write of a blob answers, the same for every store: the source's own AppError
 * (a 413) as is, a client that went away as is (nobody to answer), else 503 with Retry-After —
 * `storage_full` when the store said it is out of space (each store knows how it says so).
 */
export function blobWriteError(error: unknown, storeIsFull: boolean): unknown {
  if (isAppError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') return error;
  const reason = storeIsFull ? 'storage_full' : 'storage_failed';
  const message = storeIsFull ? 'The file store is full; nothing was stored.' : 'The file could not be stored; nothing was stored.';
  return new AppError('UNAVAILABLE', { message, details: { reason, component: 'files' }, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause: error });
}

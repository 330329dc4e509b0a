/**
 * Recognises a storage that is out of space or failing, whatever layer reports it: the file system
 * (errno), SQLite (its result codes, which better-sqlite3 carries as `code`) or PostgreSQL
 * (SQLSTATE 53100 `disk_full` and 58030 `io_error`). The one edge that answers
 * errors turns these into 503 UNAVAILABLE instead of 500, since the condition is the operator's to
 * fix and the client's to retry, and nothing of the failed write was kept (each write is one
 * transaction, each blob a temporary name renamed only once whole).
 */
export type StorageFaultReason = 'storage_full' | 'storage_failed';

/** Which store failed: named in the answer's details and in the `storage.unavailable` security event. */
export type StorageComponent = 'database' | 'files' | 'backups';

/** What a client is told to wait (`Retry-After`) before trying a write again: space returns by an operator's hand, not in milliseconds. */
export const STORAGE_RETRY_AFTER_SECONDS = 30;

const FULL = new Set([
  'ENOSPC', 'EDQUOT', // file system: no space, quota exceeded
  'SQLITE_FULL',
  '53100', // PostgreSQL disk_full: what it sends for "could not extend file …: No space left on device"
]);
const FAILED = new Set(['EIO', 'EROFS', '58030' /* PostgreSQL io_error */]);

/**
 * Marks an error as coming from one store, for the code that knows (the backup writer: `backups`).
 * The errno alone cannot say which: an ENOSPC is the file store's or the backup folder's alike.
 */
export function fromStorage<E>(error: E, component: StorageComponent): E {
  if (error && typeof error === 'object') Object.defineProperty(error, 'storageComponent', { value: component, configurable: true, enumerable: false });
  return error;
}

/**
 * The fault a raw error (or any error in its `cause` chain) reports, or undefined for anything else.
 * Which store: `component` when the caller knows it, else the one an error of the chain was marked
 * with (`fromStorage`), else a guess from the code (an errno: files; SQLite's or a SQLSTATE: database).
 */
export function storageFault(error: unknown, component?: StorageComponent): { reason: StorageFaultReason; component: StorageComponent } | undefined {
  let marked: StorageComponent | undefined;
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 8; depth += 1) {
    marked ??= (current as { storageComponent?: StorageComponent }).storageComponent;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const which: StorageComponent = component ?? marked ?? (code.startsWith('E') ? 'files' : 'database');
      if (FULL.has(code)) return { reason: 'storage_full', component: which };
      if (FAILED.has(code) || code.startsWith('SQLITE_IOERR')) return { reason: 'storage_failed', component: which };
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

import type { Readable } from 'node:stream';

/**
 * A place for named objects: a folder, or an S3-compatible bucket under a prefix. Backups are
 * written to one (CONFIDE_BACKUP_TARGET); a blob store may sit on one (CONFIDE_BLOB_STORE). Names
 * are relative (`<id>.cbk`, `tenant-keys/<tenantId>`), made of [A-Za-z0-9._/-] only, never
 * absolute and never with `..`. The store sees only bytes Confide already sealed.
 */
export interface ObjectStore {
  /** Names the store in messages and events, never a secret: `folder /srv/backups`, `s3://bucket/prefix`. */
  readonly description: string;
  /**
   * Writes `source` under `name` and resolves once the object is durable and complete. An object is
   * visible under its name only whole (folder: temporary file, fsync, rename; S3: one PUT or a
   * completed multipart upload). On failure nothing is left under `name` and it rejects with
   * ObjectStoreError (or the source's own error, as is).
   */
  put(name: string, source: Readable): Promise<void>;
  /** The object's bytes; a missing object fails the stream with ObjectStoreError kind `missing`. */
  get(name: string): Readable;
  /** Every object whose name starts with `prefix` (`''`: all), by name. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes the object; a missing one is no error. */
  remove(name: string): Promise<void>;
  /**
   * As `list`, a page at a time (in name order), so a caller going through many objects never holds
   * the whole listing. A store without it is listed whole.
   */
  pages?(prefix: string): AsyncIterable<StoredObject[]>;
  /**
   * Writes begun under `prefix` and never completed nor aborted (S3: multipart uploads a crash cut
   * short). A store that cannot list them (or has none: a folder's temporary files are its own
   * business) yields nothing.
   */
  incompleteWrites?(prefix: string): AsyncIterable<IncompleteWrite>;
}

export interface IncompleteWrite {
  name: string;
  startedAt: Date;
  abort(): Promise<void>;
}

export interface StoredObject {
  name: string;
  bytes: number;
  modifiedAt: Date;
}

export type ObjectStoreProblem = 'missing' | 'unavailable' | 'full' | 'denied';

/** A store failure, said without secrets: what (`kind`), where (`description`), and the cause for the log. */
export class ObjectStoreError extends Error {
  constructor(
    readonly kind: ObjectStoreProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ObjectStoreError';
  }
}

const NAME = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]{1,512}$/;

/** Refuses a name that could leave the store's folder or prefix. */
export function checkObjectName(name: string): string {
  if (!NAME.test(name) || name.endsWith('/')) throw new Error(`invalid object name: ${JSON.stringify(name)}`);
  return name;
}

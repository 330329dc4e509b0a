import { randomBytes } from 'node:crypto';
import type { Readable, Transform } from 'node:stream';

/**
 * Where the sealed bytes of files rest: a small seam, so a second store (S3-compatible, issue 12)
 * is a sibling of the local one. A store sees only sealed bytes and random names; which blob is
 * whose, and the key that opens it, are in the database.
 */
export interface BlobStore {
  /**
   * Writes `source`, through `through` (a cipher), as a new blob of the tenant and resolves with its name once it is durable. On
   * any failure nothing is left under a blob's name (a partial write is removed) and the promise
   * rejects: with the source's own error (an AppError such as 413) or a storage AppError (503).
   */
  put(tenantId: string, source: Readable, ...through: Transform[]): Promise<string>;
  /**
   * As `put`, under a name chosen first (`newStorageId()`): an upload claims the name before a
   * byte is written (src/files/upload-claims.ts), so the orphan sweep knows it is in flight.
   */
  putAs(tenantId: string, storageId: string, source: Readable, ...through: Transform[]): Promise<void>;
  /** The blob's bytes; a missing blob fails the stream (ENOENT). */
  open(tenantId: string, storageId: string): Readable;
  /** Removes a blob; a missing one is no error. */
  remove(tenantId: string, storageId: string): Promise<void>;
  /** Removes every blob of a tenant (its deletion). */
  removeTenant(tenantId: string): Promise<void>;
  /**
   * Every blob there is, with when it was written: the orphan sweep compares them with
   * `record_files`. Both real stores have it; a test double may leave it out (no sweep then).
   */
  blobs?(): AsyncIterable<StoredBlob>;
  /**
   * Writes a crash cut short and the store keeps out of sight (S3: incomplete multipart uploads,
   * which `leavePartsOnError` aborts only while the process lives): the sweep aborts old ones.
   */
  incompleteBlobs?(): AsyncIterable<IncompleteBlob>;
}

export interface IncompleteBlob extends StoredBlob {
  /** Discards the write and what it holds. */
  abort(): Promise<void>;
}

/** A new blob's name: random, never anything a client chose. */
export function newStorageId(): string {
  return randomBytes(16).toString('hex');
}

export interface StoredBlob {
  tenantId: string;
  storageId: string;
  modifiedAt: Date;
}

import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectStoreError, type ObjectStore, type StoredObject } from '../storage/object-store.js';
import { newStorageId, type BlobStore, type IncompleteBlob, type StoredBlob } from './blob-store.js';
import { blobWriteError, checkedBlobName, SAFE_BLOB_NAME } from './blob-store-errors.js';

/**
 * Blobs as objects of an ObjectStore (CONFIDE_BLOB_STORE=s3://…): `files/<tenant id>/<random id>`.
 * The store writes an object whole or not at all (S3: one PutObject, or a completed multipart
 * upload), so there is no temporary name to clean up. A missing blob fails its stream with ENOENT,
 * as the local store's does, so a download says `missing` either way.
 */
export class ObjectBlobStore implements BlobStore {
  constructor(private readonly store: ObjectStore) {}

  async put(tenantId: string, source: Readable, ...through: Transform[]): Promise<string> {
    const storageId = newStorageId();
    await this.putAs(tenantId, storageId, source, ...through);
    return storageId;
  }

  async putAs(tenantId: string, storageId: string, source: Readable, ...through: Transform[]): Promise<void> {
    const sealed = new PassThrough();
    // Whichever side fails first is the cause: the source (a 413, a client gone) or the store.
    let first: unknown;
    const noted = (error: unknown) => {
      first ??= error;
      sealed.destroy(); // a store that stopped reading must not leave the source waiting
      throw error;
    };
    // Both sides settle before anything is cleaned up: a remove sent while the upload still runs
    // (its last part, its completion or its abort) could come before the object and miss it.
    const settled = await Promise.allSettled([pipeline([source, ...through, sealed]).catch(noted), this.store.put(this.name(tenantId, storageId), sealed).catch(noted)]);
    if (settled.every((side) => side.status === 'fulfilled')) return;
    await this.store.remove(this.name(tenantId, storageId)).catch(() => undefined);
    throw blobWriteError(first, isFull(first));
  }

  open(tenantId: string, storageId: string): Readable {
    const stream = this.store.get(this.name(tenantId, storageId));
    const out = new PassThrough();
    stream.once('error', (error) => out.destroy(error instanceof ObjectStoreError && error.kind === 'missing' ? Object.assign(new Error('no such blob'), { code: 'ENOENT' }) : error));
    out.once('close', () => stream.destroy());
    return stream.pipe(out);
  }

  async remove(tenantId: string, storageId: string): Promise<void> {
    await this.store.remove(this.name(tenantId, storageId));
  }

  async removeTenant(tenantId: string): Promise<void> {
    for (const object of await this.store.list(`files/${checkedBlobName(tenantId)}/`)) await this.store.remove(object.name);
  }

  async *blobs(): AsyncIterable<StoredBlob> {
    // Page by page where the store can: a bucket of millions of blobs is never held whole.
    const pages: AsyncIterable<StoredObject[]> | Iterable<StoredObject[]> = this.store.pages ? this.store.pages('files/') : [await this.store.list('files/')];
    for await (const page of pages) {
      for (const object of page) {
        const blob = blobOf(object.name);
        if (blob) yield { ...blob, modifiedAt: object.modifiedAt };
      }
    }
  }

  async *incompleteBlobs(): AsyncIterable<IncompleteBlob> {
    if (!this.store.incompleteWrites) return;
    for await (const write of this.store.incompleteWrites('files/')) {
      const blob = blobOf(write.name);
      if (blob) yield { ...blob, modifiedAt: write.startedAt, abort: () => write.abort() };
    }
  }

  private name(tenantId: string, storageId: string): string {
    return `files/${checkedBlobName(tenantId)}/${checkedBlobName(storageId)}`;
  }
}

/** `files/<tenant id>/<storage id>` back to its parts; anything else is none of the blob store's. */
function blobOf(name: string): { tenantId: string; storageId: string } | undefined {
  const [files, tenantId, storageId, ...rest] = name.split('/');
  if (files !== 'files' || !tenantId || !storageId || rest.length > 0 || !SAFE_BLOB_NAME.test(tenantId) || !SAFE_BLOB_NAME.test(storageId)) return undefined;
  return { tenantId, storageId };
}

/** The object store's way of saying it is out of space (its errors are already sorted into kinds). */
const isFull = (error: unknown): boolean => error instanceof ObjectStoreError && error.kind === 'full';

import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isAppError } from '../lib/app-error.js';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../lib/storage-fault.js';
import { newStorageId, type BlobStore, type StoredBlob } from './blob-store.js';
import { syncDirectory } from '../lib/sync-directory.js';

/** Blob and tenant folder names: random hex, and tenant ids (UUIDs), never anything a client chose. */
const SAFE_NAME = /^[0-9a-f-]{1,64}$/;

/**
 * Blobs on the local disk, `<dataDir>/files/<tenant id>/<random id>`, each written to a temporary
 * name, flushed to disk, then renamed, and the folder flushed too: after a crash a blob is whole
 * under its name or absent, never half there. Folders are 0700 and files 0600.
 */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  async put(tenantId: string, source: Readable, ...through: Transform[]): Promise<string> {
    const storageId = newStorageId();
    await this.putAs(tenantId, storageId, source, ...through);
    return storageId;
  }

  async putAs(tenantId: string, storageId: string, source: Readable, ...through: Transform[]): Promise<void> {
    const dir = this.tenantDir(tenantId);
    const temporary = join(dir, `${checked(storageId)}.partial`);
    try {
      ensurePrivateDirectory(this.root, 'file store');
      ensurePrivateDirectory(dir, 'file store');
      // `flush`: fsync before close (Node 20.10), so the rename below never names unwritten bytes.
      await pipeline([source, ...through, createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true })]);
      await rename(temporary, join(dir, storageId));
      await syncDirectory(dir);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw storageError(error);
    }
  }

  open(tenantId: string, storageId: string): Readable {
    return createReadStream(join(this.tenantDir(tenantId), checked(storageId)));
  }

  async remove(tenantId: string, storageId: string): Promise<void> {
    // A `.partial` left by a crash is removed by the orphan sweep under its own name.
    await rm(join(this.tenantDir(tenantId), checked(storageId.replace(/\.partial$/, '')) + (storageId.endsWith('.partial') ? '.partial' : '')), { force: true });
  }

  async removeTenant(tenantId: string): Promise<void> {
    await rm(this.tenantDir(tenantId), { recursive: true, force: true });
  }

  async *blobs(): AsyncIterable<StoredBlob> {
    const tenants = await readdir(this.root).catch(() => [] as string[]);
    for (const tenantId of tenants.filter((name) => SAFE_NAME.test(name))) {
      for (const storageId of await readdir(join(this.root, tenantId)).catch(() => [] as string[])) {
        // A `.partial` is a write under way (or one a crash cut short): the sweep sees it once it is old.
        if (!SAFE_NAME.test(storageId.replace(/\.partial$/, ''))) continue;
        const info = await stat(join(this.root, tenantId, storageId)).catch(() => null);
        if (info) yield { tenantId, storageId, modifiedAt: info.mtime };
      }
    }
  }

  private tenantDir(tenantId: string): string {
    return join(this.root, checked(tenantId));
  }
}

function checked(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error('not a blob or tenant name');
  return name;
}


/**
 * The source's own refusal (413, a client gone) passes through; a full disk or another I/O failure
 * of the store becomes 503 in the contract's shape, its cause kept for the log only.
 */
function storageError(error: unknown): unknown {
  if (isAppError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new AppError('UNAVAILABLE', { message: 'The file store is full; nothing was stored.', details: { reason: 'storage_full', component: 'files' }, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause: error });
  }
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') return error; // the client went away: nobody to answer
  return new AppError('UNAVAILABLE', { message: 'The file could not be stored; nothing was stored.', details: { reason: 'storage_failed', component: 'files' }, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS, cause: error });
}

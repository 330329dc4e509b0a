import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensurePrivateDirectory } from '../lib/private-path.js';
import { newStorageId, type BlobStore, type StoredBlob } from './blob-store.js';
import { syncDirectory } from '../lib/sync-directory.js';
import { blobWriteError, checkedBlobName, SAFE_BLOB_NAME } from './blob-store-errors.js';

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
    const temporary = join(dir, `${checkedBlobName(storageId)}.partial`);
    try {
      ensurePrivateDirectory(this.root, 'file store');
      ensurePrivateDirectory(dir, 'file store');
      // `flush`: fsync before close (Node 20.10), so the rename below never names unwritten bytes.
      await pipeline([source, ...through, createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true })]);
      await rename(temporary, join(dir, storageId));
      await syncDirectory(dir);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw blobWriteError(error, isFull(error));
    }
  }

  open(tenantId: string, storageId: string): Readable {
    return createReadStream(join(this.tenantDir(tenantId), checkedBlobName(storageId)));
  }

  async remove(tenantId: string, storageId: string): Promise<void> {
    // A `.partial` left by a crash is removed by the orphan sweep under its own name.
    await rm(join(this.tenantDir(tenantId), checkedBlobName(storageId.replace(/\.partial$/, '')) + (storageId.endsWith('.partial') ? '.partial' : '')), { force: true });
  }

  async removeTenant(tenantId: string): Promise<void> {
    await rm(this.tenantDir(tenantId), { recursive: true, force: true });
  }

  async *blobs(): AsyncIterable<StoredBlob> {
    const tenants = await readdir(this.root).catch(() => [] as string[]);
    for (const tenantId of tenants.filter((name) => SAFE_BLOB_NAME.test(name))) {
      for (const storageId of await readdir(join(this.root, tenantId)).catch(() => [] as string[])) {
        // A `.partial` is a write under way (or one a crash cut short): the sweep sees it once it is old.
        if (!SAFE_BLOB_NAME.test(storageId.replace(/\.partial$/, ''))) continue;
        const info = await stat(join(this.root, tenantId, storageId)).catch(() => null);
        if (info) yield { tenantId, storageId, modifiedAt: info.mtime };
      }
    }
  }

  private tenantDir(tenantId: string): string {
    return join(this.root, checkedBlobName(tenantId));
  }
}

/** The disk's way of saying it is out of space (or out of the user's quota). */
const isFull = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOSPC' || (error as NodeJS.ErrnoException).code === 'EDQUOT';

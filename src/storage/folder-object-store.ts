import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkObjectName, ObjectStoreError, type ObjectStore, type ObjectStoreProblem, type StoredObject } from './object-store.js';
import { syncDirectory } from '../lib/sync-directory.js';

const TEMPORARY = '.partial';

/**
 * Objects as files under one folder (`CONFIDE_BACKUP_TARGET=/srv/backups`): `name` is the path below
 * it. A put writes a temporary file beside the final name, flushes it, renames it, and flushes the
 * folder, so after a crash an object is whole under its name or absent. Folders 0700, files 0600:
 * what rests here is sealed, but its size and names are nobody else's business either.
 */
export class FolderObjectStore implements ObjectStore {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `folder ${root}`;
  }

  async put(name: string, source: Readable): Promise<void> {
    const file = this.path(name);
    const temporary = `${file}.${randomBytes(6).toString('hex')}${TEMPORARY}`;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      // `flush`: fsync before close, so the rename never names unwritten bytes.
      await pipeline(source, createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true }));
      await rename(temporary, file);
      await syncDirectory(dirname(file));
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw this.failure(error, `cannot write ${name}`);
    }
  }

  get(name: string): Readable {
    const out = new PassThrough();
    const file = createReadStream(this.path(name));
    // Before pipeline's own listener: the reader sees the failure said as the store's.
    file.on('error', (error) => out.destroy(this.failure(error, `cannot read ${name}`) as Error));
    // pipeline, not pipe: a reader that destroys `out` (a damaged archive) closes the file too.
    pipeline(file, out).catch(() => undefined);
    return out;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    try {
      await this.walk(this.root, found);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.failure(error, 'cannot list');
    }
    return found.filter((object) => object.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async remove(name: string): Promise<void> {
    const file = this.path(name);
    try {
      await rm(file, { force: true });
      // An unlink is durable only once its folder is flushed: a shredded key object must not come back after a crash.
      await syncDirectory(dirname(file)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
    } catch (error) {
      throw this.failure(error, `cannot remove ${name}`);
    }
  }

  /**
   * Removes temporary files (`<name>.<hex>.partial`) last written before `before`: left by a process
   * that died mid-write (a live write touches its file all along). One may hold a tenant's wrapped key.
   */
  async sweepPartials(before: Date): Promise<string[]> {
    const removed: string[] = [];
    const sweep = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await sweep(full);
        else if (entry.name.endsWith(TEMPORARY) && ((await stat(full).catch(() => null))?.mtime ?? before) < before) {
          await unlink(full).catch(() => undefined);
          removed.push(relative(this.root, full).split(sep).join('/'));
        }
      }
    };
    try {
      await sweep(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.failure(error, 'cannot sweep temporary files');
    }
    return removed;
  }

  private async walk(dir: string, found: StoredObject[]): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await this.walk(full, found);
      else if (entry.isFile() && !entry.name.endsWith(TEMPORARY)) {
        const info = await stat(full).catch(() => null); // removed since the listing: not there
        if (info) found.push({ name: relative(this.root, full).split(sep).join('/'), bytes: info.size, modifiedAt: info.mtime });
      }
    }
  }

  private path(name: string): string {
    return join(this.root, checkObjectName(name));
  }

  /** An OS error as an ObjectStoreError of its kind, naming the store, never the source's data. */
  private failure(error: unknown, what: string): unknown {
    if (error instanceof ObjectStoreError) return error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === undefined) return error; // the source's own error (a dump that failed), as is
    const kind = problemOf(code);
    return new ObjectStoreError(kind, `backup target ${this.description}: ${what}: ${MESSAGES[kind]} (${code})`, { cause: error });
  }
}

const MESSAGES: Record<ObjectStoreProblem, string> = {
  missing: 'no such object',
  full: 'no space left',
  denied: 'permission denied or read-only',
  unavailable: 'the folder is not usable',
};

function problemOf(code: string): ObjectStoreProblem {
  if (code === 'ENOENT') return 'missing';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'denied';
  return 'unavailable';
}

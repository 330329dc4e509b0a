import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ObjectStore, StoredObject } from '../storage/object-store.js';
import { ObjectBlobStore } from './object-blob-store.js';

/**
 * A store whose put, once its source fails, takes a while to settle (as an S3 multipart upload
 * finishing a part and then aborting): what happens when, in order.
 */
class SlowToSettleStore implements ObjectStore {
  readonly description = 'slow store';
  readonly events: string[] = [];

  async put(name: string, source: Readable): Promise<void> {
    try {
      for await (const chunk of source) void chunk;
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      this.events.push(`put settled ${name.split('/')[0]}`);
      throw error;
    }
  }

  get(): Readable {
    throw new Error('not used');
  }

  async list(): Promise<StoredObject[]> {
    return [];
  }

  async remove(name: string): Promise<void> {
    this.events.push(`remove ${name.split('/')[0]}`);
  }
}

describe('ObjectBlobStore.put (src/files/object-blob-store.ts)', () => {
  it('cleans up only once the upload has settled, then rejects with the first failure', async () => {
    const store = new SlowToSettleStore();
    const source = Readable.from(
      (async function* () {
        yield Buffer.from('sealed bytes');
        throw Object.assign(new Error('the client went away'), { code: 'ECONNRESET' });
      })(),
    );
    await expect(new ObjectBlobStore(store).put('0a1b', source)).rejects.toThrow('the client went away');
    expect(store.events).toEqual(['put settled files', 'remove files']);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { DeferredObjectStore } from './deferred-object-store.js';
import { FolderObjectStore } from './folder-object-store.js';

const root = mkdtempSync(join(tmpdir(), 'confide-deferred-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a store opened on first use (src/storage/deferred-object-store.ts)', () => {
  it('opens nothing until the first call, then opens once and serves every call from that store', async () => {
    let loads = 0;
    const store = new DeferredObjectStore('folder test', async () => {
      loads += 1;
      return new FolderObjectStore(join(root, 'one'));
    });
    expect(store.description).toBe('folder test');
    expect(loads).toBe(0);
    await Promise.all([store.put('a/b', Readable.from([Buffer.from('first')])), store.put('a/c', Readable.from([Buffer.from('second')]))]);
    expect(await text(store.get('a/b'))).toBe('first');
    expect((await store.list('a/')).map((object) => object.name)).toEqual(['a/b', 'a/c']);
    const pages: string[][] = [];
    for await (const page of store.pages('a/')) pages.push(page.map((object) => object.name));
    expect(pages.flat()).toEqual(['a/b', 'a/c']);
    await store.remove('a/b');
    expect(await text(store.get('a/b')).catch((error: Error) => error.name)).toBe('ObjectStoreError');
    expect(loads).toBe(1);
    expect(() => store.get('../escape')).toThrow(/invalid object name/);
  });

  it('fails each call, streams included, when the store cannot be opened', async () => {
    const store = new DeferredObjectStore('broken', () => Promise.reject(new Error('no SDK here')));
    await expect(store.list('')).rejects.toThrow('no SDK here');
    await expect(text(store.get('x'))).rejects.toThrow('no SDK here');
    expect(() => store.close()).not.toThrow();
  });
});

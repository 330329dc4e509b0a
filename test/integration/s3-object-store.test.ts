import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { DeferredObjectStore } from '../../src/storage/deferred-object-store.js';
import { ObjectStoreError } from '../../src/storage/object-store.js';
import { openObjectStore } from '../../src/storage/open-object-store.js';
import { S3ObjectStore, parseS3Target } from '../../src/storage/s3-object-store.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';


async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `total` random bytes in 256 KiB chunks, made as they are read (never held whole), hashed as they go. */
function generated(total: number, failAfter?: number) {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = Readable.from(
    (async function* () {
      while (sent < total) {
        if (failAfter !== undefined && sent >= failAfter) throw new Error('the source failed');
        const chunk = randomBytes(Math.min(256 * 1024, total - sent));
        sent += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
    })(),
  );
  return { stream, digest: () => hash.digest('hex') };
}

describe('the S3 object store against a real S3-compatible server (s3rver) on loopback', () => {
  let s3: S3TestServer;
  // Opened as the server opens it: the SDK loads on the first call (deferred-object-store.ts).
  let store: DeferredObjectStore;
  beforeAll(async () => {
    s3 = await startS3Server();
    store = openObjectStore(`s3://${s3.bucket}/deployments/one`, loadConfig({ ...s3.env }, '/tmp').s3) as DeferredObjectStore;
  });
  afterAll(async () => {
    store?.close();
    await s3?.close();
  });

  it('parses targets into bucket and prefix', () => {
    expect(parseS3Target('s3://bucket-1/a/b/')).toEqual({ bucket: 'bucket-1', prefix: 'a/b/' });
    expect(parseS3Target('s3://bucket-1')).toEqual({ bucket: 'bucket-1', prefix: '' });
    expect(store.description).toBe(`s3://${s3.bucket}/deployments/one/`);
  });

  it('puts, gets, lists and removes objects under its prefix only', async () => {
    const small = randomBytes(1000);
    await store.put('backups/a.cbk', Readable.from([small]));
    await store.put('tenant-keys/t1', Readable.from([Buffer.from('wrapped')]));
    expect((await readAll(store.get('backups/a.cbk'))).equals(small)).toBe(true);
    const listed = await store.list('');
    expect(listed.map((object) => [object.name, object.bytes])).toEqual([['backups/a.cbk', 1000], ['tenant-keys/t1', 7]]);
    expect(listed[0]!.modifiedAt).toBeInstanceOf(Date);
    expect((await store.list('tenant-keys/')).map((object) => object.name)).toEqual(['tenant-keys/t1']);
    // Another prefix of the same bucket is another store.
    const other = new S3ObjectStore(`s3://${s3.bucket}/deployments/two`, loadConfig({ ...s3.env }, '/tmp').s3);
    expect(await other.list('')).toEqual([]);
    other.close();
    await store.remove('tenant-keys/t1');
    await store.remove('tenant-keys/t1'); // a missing object is no error
    expect((await store.list('')).map((object) => object.name)).toEqual(['backups/a.cbk']);
  });

  it('fails the stream of a missing object with kind missing, refuses unsafe names', async () => {
    const error = await readAll(store.get('backups/none.cbk')).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect((error as ObjectStoreError).kind).toBe('missing');
    expect(() => store.get('../escape')).toThrow(/invalid object name/);
  });

  it('lists past one page (pagination)', async () => {
    const names = Array.from({ length: 125 }, (_, index) => `many/${String(index).padStart(5, '0')}`);
    for (let start = 0; start < names.length; start += 25) {
      await Promise.all(names.slice(start, start + 25).map((name) => store.put(name, Readable.from([Buffer.from(name)]))));
    }
    // Pages of 20 keys: seven requests, the last one short.
    const paged = new S3ObjectStore(`s3://${s3.bucket}/deployments/one`, loadConfig({ ...s3.env }, '/tmp').s3, 20);
    const listed = await paged.list('many/');
    paged.close();
    expect(listed.map((object) => object.name)).toEqual(names);
  }, 120_000);

  it('streams a 24 MiB object in multipart and back, equal', async () => {
    const source = generated(24 * 1024 * 1024);
    await store.put('big/object', source.stream);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of store.get('big/object')) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    expect(bytes).toBe(24 * 1024 * 1024);
    expect(hash.digest('hex')).toBe(source.digest());
  }, 120_000);

  it('leaves no object and no multipart upload when the source fails midway, and rejects with the source’s own error', async () => {
    const failing = generated(20 * 1024 * 1024, 12 * 1024 * 1024);
    await expect(store.put('big/failed', failing.stream)).rejects.toThrow('the source failed');
    expect((await store.list('big/')).map((object) => object.name)).toEqual(['big/object']);
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket })).catch(() => ({ Uploads: [] }));
    client.destroy();
    expect(uploads.Uploads ?? []).toEqual([]);
    // A small object whose source fails: nothing either.
    await expect(store.put('small/failed', generated(1000, 0).stream)).rejects.toThrow('the source failed');
    expect(await store.list('small/')).toEqual([]);
  }, 120_000);

  it('says unavailable, without a secret or URL, when the server is down', async () => {
    await s3.stop();
    try {
      const error = (await store.put('down/x', Readable.from([Buffer.from('x')])).catch((failure: unknown) => failure)) as ObjectStoreError;
      expect(error).toBeInstanceOf(ObjectStoreError);
      expect(error.kind).toBe('unavailable');
      expect(error.message).toContain(`s3://${s3.bucket}/deployments/one/`);
      expect(error.message).not.toMatch(/S3RVER|X-Amz|http:/);
      const listing = (await store.list('').catch((failure: unknown) => failure)) as ObjectStoreError;
      expect(listing.kind).toBe('unavailable');
    } finally {
      await s3.start();
    }
    expect((await store.list('backups/')).map((object) => object.name)).toEqual(['backups/a.cbk']);
  }, 60_000);

  it('says denied for wrong credentials', async () => {
    const wrong = new S3ObjectStore(`s3://${s3.bucket}/x`, { ...loadConfig({ ...s3.env }, '/tmp').s3, credentials: { accessKeyId: 'UNKNOWN', secretAccessKey: 'not-the-secret' } });
    const error = (await wrong.list('').catch((failure: unknown) => failure)) as ObjectStoreError;
    wrong.close();
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error.kind).toBe('denied');
    expect(error.message).not.toContain('not-the-secret');
  });

  it('gives the socket back when a download is dropped before S3 answers: more gets than the SDK pool holds (50) still complete', async () => {
    // Larger than a socket's buffers: a body left unread then never ends, and never frees its socket.
    await store.put('dropped/object', Readable.from([randomBytes(2 * 1024 * 1024)]));
    // Dropped at once, as a client that goes away mid-request: the answer comes after the reader left.
    for (let i = 0; i < 60; i += 1) store.get('dropped/object').destroy();
    const within = (ms: number) => new Promise((_, reject) => setTimeout(() => reject(new Error('no socket left: the get hangs')), ms));
    for (let i = 0; i < 5; i += 1) {
      const bytes = (await Promise.race([readAll(store.get('dropped/object')), within(10_000)])) as Buffer;
      expect(bytes.length).toBe(2 * 1024 * 1024);
    }
  }, 60_000);
});

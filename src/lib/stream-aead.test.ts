import { randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { openStream, sealStream, STREAM_HEADER_BYTES, StreamIntegrityError } from './stream-aead.js';

const key = randomBytes(32);
const place = Buffer.from('backup/2026-11-30T06:00:00Z', 'utf8');
const CHUNK = 1024;

/** Pushes `input` through `transform` in pieces of `piece` bytes (streams split data anywhere) and collects what comes out. */
async function through(transform: Transform, input: Buffer, piece = 333): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += piece) pieces.push(input.subarray(at, at + piece));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer | string>) => {
    for await (const chunk of source) out.push(Buffer.from(chunk));
  });
  return Buffer.concat(out);
}

const seal = (plaintext: Buffer, aad = place) => through(sealStream(key, aad, CHUNK), plaintext);
const open = (sealed: Buffer, aad = place, withKey = key) => through(openStream(withKey, aad), sealed, 500);
const problemOf = async (work: Promise<unknown>) => {
  try {
    await work;
    return 'opened';
  } catch (error) {
    return error instanceof StreamIntegrityError ? error.problem : `other: ${(error as Error).message}`;
  }
};
const chunkAt = (i: number) => STREAM_HEADER_BYTES + i * (CHUNK + 16);

describe('streaming AES-256-GCM (STREAM)', () => {
  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 10 * CHUNK + 17])('round-trips %i bytes, in chunks of the stated size', async (size) => {
    const plaintext = randomBytes(size);
    const sealed = await seal(plaintext);
    const chunks = Math.max(1, Math.ceil(size / CHUNK));
    expect(sealed.length).toBe(STREAM_HEADER_BYTES + size + chunks * 16);
    expect((await open(sealed)).equals(plaintext)).toBe(true);
  });

  it('never repeats: the same plaintext seals differently each time', async () => {
    const plaintext = randomBytes(100);
    expect((await seal(plaintext)).equals(await seal(plaintext))).toBe(false);
  });

  it('refuses a flipped byte anywhere: header, chunk body, tag', async () => {
    const sealed = await seal(randomBytes(3 * CHUNK + 5));
    for (const at of [5, STREAM_HEADER_BYTES - 1, chunkAt(0) + 3, chunkAt(1) + CHUNK + 2, sealed.length - 1]) {
      const altered = Buffer.from(sealed);
      altered[at]! ^= 0x01;
      expect(await problemOf(open(altered)), `byte ${at}`).toMatch(/altered|header/);
    }
  });

  it('names a stream cut at a chunk boundary as truncated, and one cut inside a chunk as altered', async () => {
    const sealed = await seal(randomBytes(3 * CHUNK + 5));
    expect(await problemOf(open(sealed.subarray(0, chunkAt(2))))).toBe('truncated');
    expect(await problemOf(open(sealed.subarray(0, chunkAt(1))))).toBe('truncated');
    expect(await problemOf(open(sealed.subarray(0, chunkAt(2) + 100)))).toBe('altered');
    expect(await problemOf(open(sealed.subarray(0, 10)))).toBe('truncated');
  });

  it('refuses chunks swapped, a chunk repeated, a chunk from another stream, and bytes after the end', async () => {
    const plaintext = randomBytes(3 * CHUNK + 5);
    const sealed = await seal(plaintext);
    const other = await seal(plaintext);
    const chunk = (stream: Buffer, i: number) => stream.subarray(chunkAt(i), chunkAt(i + 1));
    const header = sealed.subarray(0, STREAM_HEADER_BYTES);
    const tail = sealed.subarray(chunkAt(3));
    expect(await problemOf(open(Buffer.concat([header, chunk(sealed, 1), chunk(sealed, 0), chunk(sealed, 2), tail])))).toBe('altered');
    expect(await problemOf(open(Buffer.concat([header, chunk(sealed, 0), chunk(sealed, 0), chunk(sealed, 2), tail])))).toBe('altered');
    expect(await problemOf(open(Buffer.concat([header, chunk(sealed, 0), chunk(other, 1), chunk(sealed, 2), tail])))).toBe('altered');
    const fullLast = await seal(randomBytes(2 * CHUNK));
    expect(await problemOf(open(Buffer.concat([fullLast, chunk(fullLast, 0)])))).toBe('trailing');
  });

  it('opens only with its key and its associated data (its place)', async () => {
    const sealed = await seal(randomBytes(50));
    expect(await problemOf(open(sealed, Buffer.from('backup/another', 'utf8')))).toBe('altered');
    expect(await problemOf(open(sealed, place, randomBytes(32)))).toBe('altered');
    expect(await problemOf(open(Buffer.concat([Buffer.from('XXXX'), sealed.subarray(4)])))).toBe('header');
  });

  it('streams: 64 MiB pass through while at most a few chunks are in flight (memory stays flat)', async () => {
    const size = 64 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024, 7);
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= size) return void this.push(null);
        produced += piece.length;
        this.push(piece);
      },
    });
    let opened = 0;
    let mostInFlight = 0;
    await pipeline(source, sealStream(key, place), openStream(key, place), async (plain: AsyncIterable<Buffer | string>) => {
      for await (const chunk of plain) {
        opened += chunk.length;
        mostInFlight = Math.max(mostInFlight, produced - opened);
      }
    });
    expect(opened).toBe(size);
    // Backpressure holds it to the streams' buffers (a few pieces and chunks), whatever the size:
    // a buffering implementation would have all 64 MiB in flight at once.
    expect(mostInFlight).toBeLessThan(2 * 1024 * 1024);
  });
});

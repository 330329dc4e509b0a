import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Streaming authenticated encryption with AES-256-GCM: the STREAM construction (Hoang, Reyhanitabar,
 * Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015),
 * laid out as Tink's AES-GCM-HKDF streaming AEAD. For what is too large to hold in memory at once:
 * backup archives, files attached to records. No maintained JavaScript library implements it over
 * AES-GCM (miscreant's STREAM is over AES-SIV and unmaintained since 2019), so the framing is written
 * here, over node:crypto's AES-GCM and HKDF.
 *
 *   header  = "CFS1" ‖ salt (32) ‖ nonce prefix (7) ‖ chunk size (u32 BE)
 *   key     = HKDF-SHA-256(the caller's key, salt, "confide/stream/v1" ‖ associated data)
 *   chunk i = AES-256-GCM(key, nonce = prefix ‖ i (u32 BE) ‖ final (1 byte),
 *                         AAD = header ‖ i ‖ final ‖ associated data) ‖ tag (16)
 *
 * Every chunk but the last holds exactly `chunk size` bytes of plaintext; the last holds the rest
 * (0 or more) and is sealed with final = 1. So a stream cut at a chunk boundary ends on a chunk
 * sealed as not final (caught: "truncated"), chunks moved or copied between positions or streams do
 * not open, anything after the final chunk is caught, and the header cannot be changed. A per-stream
 * key (from the random salt) keeps counter nonces from ever repeating under one key.
 */

const MAGIC = Buffer.from('CFS1', 'ascii');
const SALT_BYTES = 32;
const PREFIX_BYTES = 7;
const TAG_BYTES = 16;
export const STREAM_HEADER_BYTES = MAGIC.length + SALT_BYTES + PREFIX_BYTES + 4;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
const MAX_CHUNKS = 2 ** 32;

/** Why a stream does not open: named, so an operator is told what happened to an archive. */
export type StreamProblem = 'header' | 'altered' | 'truncated' | 'trailing';

export class StreamIntegrityError extends Error {
  constructor(
    readonly problem: StreamProblem,
    message: string,
  ) {
    super(message);
    this.name = 'StreamIntegrityError';
  }
}

interface StreamState {
  key: Buffer;
  header: Buffer;
  prefix: Buffer;
  associatedData: Buffer;
}

function streamKey(key: Buffer, salt: Buffer, associatedData: Buffer): Buffer {
  if (key.length !== 32) throw new Error('AES-256 needs a 32-byte key');
  return Buffer.from(hkdfSync('sha256', key, salt, Buffer.concat([Buffer.from('confide/stream/v1', 'ascii'), associatedData]), 32));
}

function chunkParameters(state: StreamState, index: number, final: boolean): { nonce: Buffer; aad: Buffer } {
  if (index >= MAX_CHUNKS) throw new Error('stream too long for its chunk size');
  const position = Buffer.alloc(5);
  position.writeUInt32BE(index, 0);
  position[4] = final ? 1 : 0;
  return { nonce: Buffer.concat([state.prefix, position]), aad: Buffer.concat([state.header, position, state.associatedData]) };
}

function sealChunk(state: StreamState, index: number, final: boolean, plaintext: Buffer): Buffer {
  const { nonce, aad } = chunkParameters(state, index, final);
  const cipher = createCipheriv('aes-256-gcm', state.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The chunk's plaintext, or null if it does not open as (index, final). */
function openChunk(state: StreamState, index: number, final: boolean, sealed: Buffer): Buffer | null {
  if (sealed.length < TAG_BYTES) return null;
  const { nonce, aad } = chunkParameters(state, index, final);
  const decipher = createDecipheriv('aes-256-gcm', state.key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

/**
 * A Transform that seals what is written to it: the header first, then the chunks. Holds at most
 * one chunk of plaintext. `associatedData` binds the stream to its place (an archive's name, a
 * file's tenant, record and name): the same bytes elsewhere do not open.
 */
export function sealStream(key: Buffer, associatedData: Buffer, chunkBytes = DEFAULT_CHUNK_BYTES): Transform {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) throw new Error('chunk size out of range');
  const salt = randomBytes(SALT_BYTES);
  const prefix = randomBytes(PREFIX_BYTES);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(chunkBytes, 0);
  const header = Buffer.concat([MAGIC, salt, prefix, size]);
  const state: StreamState = { key: streamKey(key, salt, associatedData), header, prefix, associatedData };
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let headerSent = false;
  const sendHeader = (stream: Transform) => {
    if (!headerSent) stream.push(header);
    headerSent = true;
  };
  return new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      sendHeader(this);
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      // Strictly more than a chunk: only then is the chunk surely not the last.
      while (pending.length > chunkBytes) {
        this.push(sealChunk(state, index, false, pending.subarray(0, chunkBytes)));
        pending = pending.subarray(chunkBytes);
        index += 1;
      }
      done();
    },
    flush(done: TransformCallback) {
      sendHeader(this);
      this.push(sealChunk(state, index, true, pending));
      done();
    },
  });
}

/**
 * A Transform that opens a sealed stream and passes on its plaintext, chunk by chunk, each only
 * once it authenticated; it fails with a StreamIntegrityError naming what is wrong. A reader that
 * must not act on a prefix of a stream that later fails (a restore) waits for the end before
 * committing what it read.
 */
export function openStream(key: Buffer, associatedData: Buffer): Transform {
  let state: StreamState | undefined;
  let sealedChunk = 0;
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  const readHeader = (): boolean => {
    if (pending.length < STREAM_HEADER_BYTES) return false;
    const header = pending.subarray(0, STREAM_HEADER_BYTES);
    if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw new StreamIntegrityError('header', 'not a Confide encrypted stream (its header is not CFS1)');
    const salt = header.subarray(MAGIC.length, MAGIC.length + SALT_BYTES);
    const prefix = header.subarray(MAGIC.length + SALT_BYTES, MAGIC.length + SALT_BYTES + PREFIX_BYTES);
    const chunkBytes = header.readUInt32BE(MAGIC.length + SALT_BYTES + PREFIX_BYTES);
    if (chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) throw new StreamIntegrityError('header', 'the stream header names an impossible chunk size');
    state = { key: streamKey(key, salt, associatedData), header: Buffer.from(header), prefix: Buffer.from(prefix), associatedData };
    sealedChunk = chunkBytes + TAG_BYTES;
    pending = pending.subarray(STREAM_HEADER_BYTES);
    return true;
  };
  const fail = (sealed: Buffer, final: boolean): StreamIntegrityError => {
    // A last chunk that opens as not final: the stream was cut short at a chunk boundary.
    if (final && openChunk(state!, index, false, sealed)) return new StreamIntegrityError('truncated', `the stream is truncated: it ends after chunk ${index}, which is not its last`);
    if (!final && openChunk(state!, index, true, sealed)) return new StreamIntegrityError('trailing', `bytes follow the final chunk (${index}) of the stream`);
    return new StreamIntegrityError('altered', `chunk ${index} of the stream does not authenticate: it was altered, moved, or comes from another stream or key`);
  };
  return new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      try {
        pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
        if (!state && !readHeader()) return done();
        // Strictly more than a sealed chunk: only then is this one surely not the last.
        while (pending.length > sealedChunk) {
          const sealed = pending.subarray(0, sealedChunk);
          const plaintext = openChunk(state!, index, false, sealed);
          if (!plaintext) throw fail(sealed, false);
          this.push(plaintext);
          pending = pending.subarray(sealedChunk);
          index += 1;
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!state && !readHeader()) throw new StreamIntegrityError('truncated', 'the stream is truncated: it ends inside its header');
        const plaintext = openChunk(state!, index, true, pending);
        if (!plaintext) throw fail(pending, true);
        this.push(plaintext);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}

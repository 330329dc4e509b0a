import { Transform, type TransformCallback } from 'node:stream';

/**
 * The body of an archive, before it is sealed: frames of 1 byte type, 4 bytes big-endian length,
 * payload. Dump lines first (JSON, in BACKUP_TABLES order), then each file blob (a JSON frame naming it, its
 * sealed bytes in frames of at most 1 MiB, an end frame), last the manifest.
 */
export const FRAME = {
  dumpLine: 1,
  fileStart: 2,
  fileBytes: 3,
  fileEnd: 4,
  manifest: 9,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export const MAX_FILE_FRAME_BYTES = 1024 * 1024;
/** A dump line or manifest is far smaller; a larger length means the body is not what it claims. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

export function encodeFrame(type: FrameType, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export const jsonFrame = (type: FrameType, value: unknown) => encodeFrame(type, Buffer.from(JSON.stringify(value), 'utf8'));

export class FrameError extends Error {}

/** A Transform from the opened body's bytes to Frame objects; fails on an unknown type or a cut frame. */
export function decodeFrames(): Transform {
  let pending: Buffer = Buffer.alloc(0);
  const known = new Set<number>(Object.values(FRAME));
  return new Transform({
    readableObjectMode: true,
    transform(data: Buffer, _encoding, done: TransformCallback) {
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      while (pending.length >= 5) {
        const type = pending[0]!;
        const length = pending.readUInt32BE(1);
        if (!known.has(type) || length > MAX_FRAME_BYTES) return done(new FrameError(`its body holds an unknown frame (type ${type})`));
        if (pending.length < 5 + length) break;
        this.push({ type: type as FrameType, payload: Buffer.from(pending.subarray(5, 5 + length)) } satisfies Frame);
        pending = pending.subarray(5 + length);
      }
      done();
    },
    flush(done: TransformCallback) {
      done(pending.length > 0 ? new FrameError('its body ends inside a frame') : undefined);
    },
  });
}

import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../lib/app-error.js';

export function fileTooLarge(maxBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', { message: `A file may hold at most ${maxBytes} bytes; nothing was stored.`, details: { limit: maxBytes } });
}

/**
 * Passes an upload's bytes through, counting them and hashing them (SHA-256 of the plaintext, which
 * the API shows), and fails with 413 the moment the count passes `maxBytes`: the body is refused
 * while it streams, not after it has been stored.
 */
export class MeteredBody extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return done(fileTooLarge(this.maxBytes));
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** Hex SHA-256 of everything that passed; once the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

import { Readable } from 'node:stream';
import { openStream, StreamIntegrityError } from '../lib/stream-aead.js';
import { AppError } from '../lib/app-error.js';

/**
 * A blob's plaintext, released only as it authenticates, chunk by chunk (src/lib/stream-aead.ts).
 * The first chunk is opened before anything is answered: a blob that is altered, cut short or
 * missing from its start is an error answer (500), not a 200. A failure later, once the answer has
 * begun, fails the returned stream, which makes the HTTP layer destroy the connection, so a client
 * sees a broken transfer (short of its Content-Length), never a short file presented as whole.
 * `onFailure` is told either way, with what went wrong.
 */
export async function authenticatedBody(sealed: Readable, key: Buffer, associatedData: Buffer, onFailure: (problem: string) => void): Promise<Readable> {
  const opened = openStream(key, associatedData);
  sealed.once('error', (error) => opened.destroy(error));
  // A client gone mid-transfer destroys `opened`: the file handle closes with it.
  opened.once('close', () => sealed.destroy());
  sealed.pipe(opened);
  const chunks = opened[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first: IteratorResult<Buffer>;
  try {
    first = await chunks.next();
  } catch (error) {
    onFailure(problemOf(error));
    throw new AppError('INTERNAL', { message: 'The stored file failed its integrity check; nothing of it was sent.', details: { reason: 'file_integrity' }, cause: error });
  }
  return Readable.from(
    (async function* () {
      if (first.done) return;
      yield first.value;
      try {
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
      } catch (error) {
        onFailure(problemOf(error));
        throw error;
      }
    })(),
    { objectMode: false },
  );
}

function problemOf(error: unknown): string {
  if (error instanceof StreamIntegrityError) return error.problem;
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
}

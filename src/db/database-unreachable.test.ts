import { describe, expect, it } from 'vitest';
import { AppError } from '../lib/app-error.js';
import { ObjectStoreError } from '../storage/object-store.js';
import { databaseUnreachable } from './database-unreachable.js';

const pgError = (code: string, message = 'server said so') => Object.assign(new Error(message), { code });
/** As node:net reports a failed socket call, and node-postgres passes it on. */
const socketError = (code: string, syscall: string) => Object.assign(new Error(`${syscall} ${code} 127.0.0.1:5432`), { code, syscall, errno: -111 });

describe('databaseUnreachable', () => {
  it('recognises a broken or refused connection and a server that is stopping, starting or read-only', () => {
    for (const error of [
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('timeout exceeded when trying to connect'),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P03', 'the database system is starting up'),
      pgError('25006', 'cannot execute INSERT in a read-only transaction'),
      pgError('08006', 'connection failure'),
      socketError('ECONNREFUSED', 'connect'),
      socketError('ECONNRESET', 'read'),
      new AggregateError([socketError('ECONNREFUSED', 'connect')], ''),
      new Error('wrapped', { cause: new Error('Connection terminated unexpectedly') }),
    ]) {
      expect(databaseUnreachable(error), String(error)).toBe(true);
    }
  });

  it('leaves everything else to be a 500 or its own code: constraint violations, bugs, a full disk', () => {
    for (const error of [new Error('boom'), pgError('23505', 'duplicate key'), pgError('53100', 'disk full'), pgError('42P01', 'no such table'), undefined, 'text']) {
      expect(databaseUnreachable(error), String(error)).toBe(false);
    }
  });

  it('is not fooled by a socket error of anything else: a client gone mid-upload, an S3 store down, an error already answered', () => {
    // IncomingMessage's own error when the client goes away: ECONNRESET, but of no socket call.
    const clientGone = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    const s3Down = new ObjectStoreError('unavailable', 's3://bucket/files/: removing files/x: the S3 service is not usable (ECONNREFUSED)', { cause: socketError('ECONNREFUSED', 'connect') });
    const sdkError = Object.assign(socketError('ECONNRESET', 'read'), { $metadata: { attempts: 3 } });
    const answered = new AppError('UNAVAILABLE', { cause: socketError('ECONNRESET', 'read') });
    for (const error of [clientGone, s3Down, sdkError, answered, new Error('removing the blobs failed', { cause: s3Down })]) {
      expect(databaseUnreachable(error), String(error)).toBe(false);
    }
  });
});

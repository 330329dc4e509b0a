import { AppError } from '../lib/app-error.js';
import { isUuid } from '../lib/ids.js';

/** Cursors are opaque to clients; inside they name the last id of the previous page. */
export function encodeRecordCursor(lastId: string): string {
  return Buffer.from(`r1:${lastId}`, 'utf8').toString('base64url');
}

export function decodeRecordCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith('r1:') ? text.slice(3) : '';
  if (!isUuid(id)) {
    throw new AppError('VALIDATION_FAILED', { message: 'The cursor is not valid.', details: { field: 'cursor' } });
  }
  return id;
}

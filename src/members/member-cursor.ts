import { AppError } from '../lib/app-error.js';
import { isUuid } from '../lib/ids.js';

/** Members are listed in the order they joined; a cursor names the last one of the previous page. */
export interface MemberPosition {
  createdAt: string;
  userId: string;
}

/** An ISO-8601 time as Date#toISOString writes it (years beyond 9999 included). */
const ISO_TIME = /^[+-]?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Opaque to clients; inside, `m1:<joined at>|<user id>`. */
export function encodeMemberCursor(position: MemberPosition): string {
  return Buffer.from(`m1:${position.createdAt}|${position.userId}`, 'utf8').toString('base64url');
}

export function decodeMemberCursor(cursor: string): MemberPosition {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [createdAt = '', userId = ''] = text.startsWith('m1:') ? text.slice(3).split('|') : [];
  if (!ISO_TIME.test(createdAt) || !isUuid(userId)) {
    throw new AppError('VALIDATION_FAILED', { message: 'The cursor is not valid.', details: { field: 'cursor' } });
  }
  return { createdAt, userId };
}

/** The longest cursor (the longest time Date can write, and a UUID): the page budget counts it. */
export const LONGEST_MEMBER_CURSOR = encodeMemberCursor({ createdAt: new Date(8.64e15).toISOString(), userId: '00000000-0000-7000-8000-000000000000' });

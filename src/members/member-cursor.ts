import { cursorCodec } from '../lib/cursor-codec.js';
import { isUuid } from '../lib/ids.js';

/** Members are listed in the order they joined; a cursor names the last one of the previous page. */
export interface MemberPosition {
  createdAt: string;
  userId: string;
}

/** An ISO-8601 time as Date#toISOString writes it (years beyond 9999 included). */
const ISO_TIME = /^[+-]?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** `m1:<joined at>|<user id>`. */
const MEMBER_CURSOR = cursorCodec<MemberPosition>({
  version: 'm1',
  format: (position) => `${position.createdAt}|${position.userId}`,
  parse(text) {
    const [createdAt = '', userId = ''] = text.split('|');
    return ISO_TIME.test(createdAt) && isUuid(userId) ? { createdAt, userId } : undefined;
  },
});

export const encodeMemberCursor = (position: MemberPosition): string => MEMBER_CURSOR.encode(position);
export const decodeMemberCursor = (cursor: string): MemberPosition => MEMBER_CURSOR.decode(cursor);

/** The longest cursor (the longest time Date can write, and a UUID): the page budget counts it. */
export const LONGEST_MEMBER_CURSOR = encodeMemberCursor({ createdAt: new Date(8.64e15).toISOString(), userId: '00000000-0000-7000-8000-000000000000' });

import { describe, expect, it } from 'vitest';
import { decodeMemberCursor, encodeMemberCursor, LONGEST_MEMBER_CURSOR } from './member-cursor.js';

const position = { createdAt: '2026-01-02T03:04:05.678Z', userId: '01920000-0000-7000-8000-000000000001' };

describe('member cursor', () => {
  it('keeps the format clients already hold (`m1:<joined at>|<user id>`, base64url)', () => {
    const old = Buffer.from(`m1:${position.createdAt}|${position.userId}`).toString('base64url');
    expect(encodeMemberCursor(position)).toBe(old);
    expect(decodeMemberCursor(old)).toEqual(position);
    expect(decodeMemberCursor(LONGEST_MEMBER_CURSOR).createdAt).toBe('+275760-09-13T00:00:00.000Z');
    expect(() => decodeMemberCursor(Buffer.from(`m1:yesterday|${position.userId}`).toString('base64url'))).toThrow('The cursor is not valid.');
  });
});

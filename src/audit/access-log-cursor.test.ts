import { describe, expect, it } from 'vitest';
import { decodeSeqCursor, encodeSeqCursor, LONGEST_SEQ_CURSOR } from './access-log-cursor.js';

describe('access-log cursor', () => {
  it('keeps the format clients already hold (`s1:<seq>`, base64url), at most 15 digits', () => {
    expect(encodeSeqCursor(7)).toBe(Buffer.from('s1:7').toString('base64url'));
    expect(decodeSeqCursor(Buffer.from('s1:7').toString('base64url'))).toBe(7);
    expect(decodeSeqCursor(LONGEST_SEQ_CURSOR)).toBe(999_999_999_999_999);
    expect(() => decodeSeqCursor(Buffer.from('s1:1000000000000000').toString('base64url'))).toThrow('The cursor is not valid.');
    expect(() => decodeSeqCursor(Buffer.from('s1:-1').toString('base64url'))).toThrow('The cursor is not valid.');
  });
});

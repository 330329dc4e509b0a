import { describe, expect, it } from 'vitest';
import { decodeRecordCursor, encodeRecordCursor } from './list-cursor.js';

const ID = '01920000-0000-7000-8000-000000000001';

describe('record cursor', () => {
  it('keeps the format clients already hold (`r1:<id>`, base64url)', () => {
    expect(encodeRecordCursor(ID)).toBe(Buffer.from(`r1:${ID}`).toString('base64url'));
    expect(decodeRecordCursor(Buffer.from(`r1:${ID}`).toString('base64url'))).toBe(ID);
    expect(() => decodeRecordCursor(Buffer.from('r1:nope').toString('base64url'))).toThrow('The cursor is not valid.');
  });
});

import { describe, expect, it } from 'vitest';
import { AppError } from './app-error.js';
import { cursorCodec } from './cursor-codec.js';

const counting = cursorCodec<number>({ version: 'n1', format: String, parse: (text) => (/^\d{1,3}$/.test(text) ? Number(text) : undefined) });
const other = cursorCodec<number>({ version: 'x1', format: String, parse: (text) => Number(text) });

function refusal(cursor: string): unknown {
  try {
    counting.decode(cursor);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('cursor codec', () => {
  it('writes base64url of `<version>:<position>` and reads it back', () => {
    const cursor = counting.encode(42);
    expect(cursor).toBe(Buffer.from('n1:42').toString('base64url'));
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(counting.decode(cursor)).toBe(42);
  });

  it.each([
    ['another version (another list)', other.encode(42)],
    ['a position the list could not have written', Buffer.from('n1:4242').toString('base64url')],
    ['no version', Buffer.from('42').toString('base64url')],
    ['not base64url', `${counting.encode(42)}!`],
    ['padding', `${counting.encode(4)}=`],
    ['empty', ''],
  ])('refuses %s with 400 VALIDATION_FAILED on the field cursor', (_name, cursor) => {
    const error = refusal(cursor);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, details: { field: 'cursor' } });
  });
});

import { cursorCodec } from '../lib/cursor-codec.js';

/** An access-log cursor names the last sequence number of the previous page (`s1:<seq>`). */
const SEQ_CURSOR = cursorCodec<number>({
  version: 's1',
  format: (seq) => String(seq),
  parse: (text) => (/^\d{1,15}$/.test(text) ? Number(text) : undefined),
});

export const encodeSeqCursor = (seq: number): string => SEQ_CURSOR.encode(seq);
export const decodeSeqCursor = (cursor: string): number => SEQ_CURSOR.decode(cursor);

/** Cursors carry at most 15 digits (decodeSeqCursor): the page budget counts this one. */
export const LONGEST_SEQ_CURSOR = encodeSeqCursor(999_999_999_999_999);

import { cursorCodec } from '../lib/cursor-codec.js';
import { isUuid } from '../lib/ids.js';

/** A record cursor names the last id of the previous page (`r1:<id>`). */
const RECORD_CURSOR = cursorCodec<string>({
  version: 'r1',
  format: (lastId) => lastId,
  parse: (text) => (isUuid(text) ? text : undefined),
});

export const encodeRecordCursor = (lastId: string): string => RECORD_CURSOR.encode(lastId);
export const decodeRecordCursor = (cursor: string): string => RECORD_CURSOR.decode(cursor);

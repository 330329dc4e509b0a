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

/** A collections cursor names the last collection of the previous page (`c1:<name>`). */
const COLLECTION_CURSOR = cursorCodec<string>({
  version: 'c1',
  format: (lastName) => lastName,
  parse: (text) => (/^[a-z][a-z0-9_]{0,62}$/.test(text) ? text : undefined),
});

export const encodeCollectionCursor = (lastName: string): string => COLLECTION_CURSOR.encode(lastName);
export const decodeCollectionCursor = (cursor: string): string => COLLECTION_CURSOR.decode(cursor);

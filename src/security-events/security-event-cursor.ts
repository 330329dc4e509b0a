import { cursorCodec } from '../lib/cursor-codec.js';
import { isUuid } from '../lib/ids.js';

/**
 * Events are listed newest first; a cursor names the last id of the previous page (`e1:<id>`).
 * Cursors written before the version prefix (base64url of the bare id) are no longer accepted:
 * a client that holds one gets 400 and starts again from the first page.
 */
export const SECURITY_EVENT_CURSOR = cursorCodec<string>({
  version: 'e1',
  format: (lastId) => lastId,
  parse: (text) => (isUuid(text) ? text : undefined),
});

/** The longest cursor a page may carry, for its byte budget. */
export const LONGEST_SECURITY_EVENT_CURSOR = SECURITY_EVENT_CURSOR.encode('ffffffff-ffff-7fff-bfff-ffffffffffff');

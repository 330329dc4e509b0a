import { cursorCodec } from '../lib/cursor-codec.js';
import { isUuid } from '../lib/ids.js';

/** Requests and grants are listed newest first; a cursor names the last request id of the previous page (`q1:<id>`). */
export const ACCESS_REQUEST_CURSOR = cursorCodec<string>({
  version: 'q1',
  format: (lastId) => lastId,
  parse: (text) => (isUuid(text) ? text : undefined),
});

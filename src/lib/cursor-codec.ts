import { AppError } from './app-error.js';

/**
 * A list's page cursor. Clients treat it as opaque; inside it is base64url of
 * `<version>:<position>`, so a list can change what its cursors hold (a new version) and a
 * cursor from another list, or a forged one, is refused instead of being misread.
 */
export interface CursorCodec<Position> {
  encode(position: Position): string;
  /** Throws 400 VALIDATION_FAILED (`details.field: 'cursor'`) for anything this codec did not make. */
  decode(cursor: string): Position;
}

export interface CursorFormat<Position> {
  /** Names the list and the layout of its cursors, e.g. `r1`; no colon. */
  version: string;
  format(position: Position): string;
  /** The position, or undefined when the text is not one this list could have written. */
  parse(text: string): Position | undefined;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function invalidCursor(): AppError {
  return new AppError('VALIDATION_FAILED', { message: 'The cursor is not valid.', details: { field: 'cursor' } });
}

export function cursorCodec<Position>(spec: CursorFormat<Position>): CursorCodec<Position> {
  const prefix = `${spec.version}:`;
  return Object.freeze({
    encode: (position: Position) => Buffer.from(`${prefix}${spec.format(position)}`, 'utf8').toString('base64url'),
    decode(cursor: string): Position {
      if (!BASE64URL.test(cursor)) throw invalidCursor();
      const text = Buffer.from(cursor, 'base64url').toString('utf8');
      const position = text.startsWith(prefix) ? spec.parse(text.slice(prefix.length)) : undefined;
      if (position === undefined) throw invalidCursor();
      return position;
    },
  });
}

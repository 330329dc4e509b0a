import { AppError } from './app-error.js';

/**
 * Control and format characters (Unicode Cc, Cf), and line and paragraph separators: names show up
 * in e-mail subjects and bodies, where CR/LF could forge headers or lines, and bidirectional
 * overrides (U+202E) could disguise a name as something else.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** A human-chosen name (organisation, API key), trimmed; refuses empty names and unprintable characters. */
export function assertPrintableName(raw: string, field: string): string {
  const name = raw.trim();
  if (name.length === 0) throw new AppError('VALIDATION_FAILED', { message: `The ${field} is empty.`, details: { field, reason: 'empty' } });
  if (UNPRINTABLE.test(name)) {
    throw new AppError('VALIDATION_FAILED', { message: `The ${field} contains control characters.`, details: { field, reason: 'control_characters' } });
  }
  return name;
}

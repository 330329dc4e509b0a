import { AppError } from '../lib/app-error.js';
import { commonPasswords } from './common-passwords.js';

/** Long passphrases are welcome (ASVS 6.2.9 asks for at least 64); the cap only bounds hashing work. */
export const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordContext {
  email?: string;
  organization?: string;
}

/** NIST 800-63B: compare and hash passwords in one Unicode normal form. */
export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * NIST 800-63B / ASVS 6.2: a minimum length, no composition rules, refused when common or when
 * it contains words from the account's own context. Throws VALIDATION_FAILED naming the reason.
 */
export function assertAcceptablePassword(password: string, minLength: number, context: PasswordContext): void {
  const normalised = normalisePassword(password);
  const length = [...normalised].length;
  const refuse = (reason: string, message: string) => {
    throw new AppError('VALIDATION_FAILED', { message, details: { field: 'password', reason } });
  };
  if (length < minLength) refuse('too_short', `The password must have at least ${minLength} characters.`);
  if (length > MAX_PASSWORD_LENGTH) refuse('too_long', `The password must have at most ${MAX_PASSWORD_LENGTH} characters.`);
  const lower = normalised.toLowerCase();
  if (commonPasswords().has(lower)) refuse('too_common', 'This password is too common; choose another.');
  for (const word of contextWords(context)) {
    if (lower.includes(word)) refuse('contains_context', 'The password must not contain your e-mail name or organisation name.');
  }
}

function contextWords(context: PasswordContext): string[] {
  const words: string[] = [];
  const localPart = context.email?.split('@')[0]?.toLowerCase();
  if (localPart && localPart.length >= 3) words.push(localPart);
  const organization = context.organization?.toLowerCase().replace(/\s+/g, '');
  if (organization && organization.length >= 3) words.push(organization);
  return words;
}

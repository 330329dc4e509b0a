import { dictionary } from '@zxcvbn-ts/language-common';

let cached: ReadonlySet<string> | undefined;

/**
 * The ~49,000 most common passwords from the zxcvbn-ts project's maintained list
 * (ASVS 6.2.12 asks for a check against breached and common passwords).
 */
export function commonPasswords(): ReadonlySet<string> {
  cached ??= new Set(dictionary.passwords.map((password) => password.toLowerCase()));
  return cached;
}

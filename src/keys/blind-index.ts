import { hmacHex } from '../lib/key-derivation.js';

/**
 * A blind index lets us find a row by an encrypted value without storing the value in clear:
 * HMAC-SHA-256 under a secret key, over a purpose label and the normalised value.
 */
export function blindIndex(key: Buffer, purpose: string, normalisedValue: string): string {
  return hmacHex(key, `${purpose}\u0000${normalisedValue}`);
}

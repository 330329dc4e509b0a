import { randomBytes } from 'node:crypto';
import { sha256Hex } from './sha256.js';

/**
 * An opaque bearer secret of 256 CSPRNG bits (ASVS 7.2.3 asks for at least 128),
 * with a readable prefix so leaked tokens are recognisable by secret scanners.
 */
export function newBearerToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Tokens carry 256 bits of entropy, so a fast hash is enough to store them safely. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

import { createHmac, hkdfSync } from 'node:crypto';

/**
 * Derives a purpose-bound 32-byte key from a root key with HKDF-SHA-256 (RFC 5869), so one master
 * key can serve several purposes without any two of them sharing key material.
 */
export function deriveKey(rootKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), `confide/${purpose}`, 32));
}

/** A keyed HMAC-SHA-256, hex encoded: used for blind indexes and key fingerprints. */
export function hmacHex(key: Buffer, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

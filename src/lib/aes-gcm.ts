import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { randomNonce } from './random-nonce.js';

const NONCE_BYTES = 12; // 96-bit random nonce, as NIST SP 800-38D recommends for GCM.
const TAG_BYTES = 16;
const KEY_BYTES = 32; // AES-256

/** Raised when a ciphertext does not authenticate: wrong key, wrong AAD, or changed bytes. */
export class DecryptionError extends Error {
  constructor() {
    super('ciphertext did not authenticate');
    this.name = 'DecryptionError';
  }
}

/** Seals `plaintext` with AES-256-GCM; the result is nonce ‖ ciphertext ‖ tag. */
export function sealAes256Gcm(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  assertKey(key);
  const nonce = randomNonce(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function openAes256Gcm(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  assertKey(key);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError();
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

export function newAes256Key(): Buffer {
  return randomBytes(KEY_BYTES);
}

function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error('AES-256 needs a 32-byte key');
}

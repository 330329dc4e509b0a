import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomNonce } from './random-nonce.js';
import { DecryptionError } from './aes-gcm.js';

// RFC 8439: a 256-bit key, a 96-bit nonce that must never repeat under one key, a 128-bit tag.
// The nonce is random, as for AES-GCM: the same collision bound holds (keep well under 2^32
// values per key), and key rotation keeps each key far below it.
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Seals `plaintext` with ChaCha20-Poly1305 (RFC 8439); the result is nonce ‖ ciphertext ‖ tag, the
 * same layout as sealAes256Gcm, so an envelope's algorithm name alone says how to open it.
 * ChaCha20 is constant-time in software, so it stays safe and fast on CPUs without AES instructions.
 */
export function sealChaCha20Poly1305(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  assertKey(key);
  const nonce = randomNonce(NONCE_BYTES);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad, { plaintextLength: plaintext.length }); // required by Node's types for this mode, unused by it
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Throws DecryptionError when `sealed` does not authenticate: wrong key, wrong AAD, or changed bytes. */
export function openChaCha20Poly1305(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  assertKey(key);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError();
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad, { plaintextLength: body.length });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error('ChaCha20-Poly1305 needs a 32-byte key');
}

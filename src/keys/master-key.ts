import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { deriveKey, hmacHex } from '../lib/key-derivation.js';
import { ALGORITHM_AES_256_GCM } from './envelope-format.js';

/** Where a master key lives: a key file, the environment, or an HSM token (PKCS#11). */
export type MasterKeyKind = 'file' | 'env' | 'pkcs11';

/**
 * The root of the key hierarchy, wherever it lives: everything Confide keeps under it (tenants'
 * and the system's data keys, the blind-index key, the signing key, the SQLCipher page key) is
 * wrapped and unwrapped through this, never by code that holds the master key's bytes. A file or
 * an environment key does it in this process; an HSM does it inside the token, and its key never
 * leaves it. Whichever does it, a wrapped value has the same form, `w1.A256GCM.<base64url(nonce ‖
 * ciphertext ‖ tag)>`, AES-256-GCM with the caller's AAD (the slot it is bound to).
 */
export interface MasterKey {
  readonly kind: MasterKeyKind;
  /** Names the key's source in messages, never the key: `master key file /…`, `PKCS#11 key "confide-master" on token "confide"`. */
  readonly description: string;
  /** A public fingerprint (16 hex characters): which master key wrapped a key; reveals nothing of it. */
  readonly id: string;
  wrap(key: Buffer, aad: Buffer): string;
  /** Throws when `wrapped` was not wrapped by this key for `aad` (DecryptionError), or is not a wrapped value. */
  unwrap(wrapped: string, aad: Buffer): Buffer;
  /**
   * The key's bytes, for what was derived from them before keys could live in an HSM (the SQLCipher
   * page key of a deployment created with a file or environment key); null for an HSM key.
   */
  legacyBytes(): Buffer | null;
  /** Releases what the key holds (an HSM session); the key is not used afterwards. */
  close(): void;
}

export const WRAPPED_PREFIX = `w1.${ALGORITHM_AES_256_GCM}.`;

/** The wrapped form every provider writes and reads. */
export function formatWrapped(sealed: Buffer): string {
  return `${WRAPPED_PREFIX}${sealed.toString('base64url')}`;
}

export function parseWrapped(wrapped: string): Buffer {
  if (!wrapped.startsWith(WRAPPED_PREFIX)) throw new Error('unknown key wrapping');
  return Buffer.from(wrapped.slice(WRAPPED_PREFIX.length), 'base64url');
}

/** The fingerprint of a key whose bytes are at hand (file, environment): unchanged since the first deployments. */
export function masterKeyIdOf(bytes: Buffer): string {
  return hmacHex(deriveKey(bytes, 'master-key-id'), 'master-key-id').slice(0, 16);
}

/** A master key held in this process's memory: from a key file or CONFIDE_MASTER_KEY. */
export function inMemoryMasterKey(kind: 'file' | 'env', bytes: Buffer, description: string): MasterKey {
  if (bytes.length !== 32) throw new Error(`${description} does not hold 32 bytes`);
  return {
    kind,
    description,
    id: masterKeyIdOf(bytes),
    wrap: (key, aad) => formatWrapped(sealAes256Gcm(bytes, key, aad)),
    unwrap: (wrapped, aad) => openAes256Gcm(bytes, parseWrapped(wrapped), aad),
    legacyBytes: () => bytes,
    close: () => {}, // nothing held beyond the bytes, which the process drops with the key
  };
}

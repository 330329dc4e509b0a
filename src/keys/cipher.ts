import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { ALGORITHM_AES_256_GCM, formatEnvelope, parseEnvelope } from './envelope-format.js';

/**
 * What a value is bound to. The AAD makes a ciphertext valid only in its own place:
 * copying it to another tenant, row or field makes decryption fail.
 */
export interface ValueLocation {
  table: string;
  rowId: string;
  field: string;
}

/** Encrypts with the newest key of its owner; decrypts with any of the owner's keys. */
export interface Cipher {
  encrypt(plaintext: string, location: ValueLocation): string;
  decrypt(ciphertext: string, location: ValueLocation): string;
}

export class UnknownKeyVersionError extends Error {}

/** The AAD of a value: its owner and location. Part of every stored ciphertext, so it never changes. */
export function additionalData(owner: string, location: ValueLocation): string {
  return `confide:v1:${owner}:${location.table}:${location.rowId}:${location.field}`;
}

export function createCipher(owner: string, keysByVersion: ReadonlyMap<number, Buffer>): Cipher {
  const newestVersion = Math.max(...keysByVersion.keys());
  const aadFor = (location: ValueLocation) => Buffer.from(additionalData(owner, location), 'utf8');

  return {
    encrypt(plaintext, location) {
      const key = keysByVersion.get(newestVersion)!;
      const sealed = sealAes256Gcm(key, Buffer.from(plaintext, 'utf8'), aadFor(location));
      return formatEnvelope({ algorithm: ALGORITHM_AES_256_GCM, keyVersion: newestVersion, sealed });
    },
    decrypt(ciphertext, location) {
      const envelope = parseEnvelope(ciphertext);
      const key = keysByVersion.get(envelope.keyVersion);
      if (!key || envelope.algorithm !== ALGORITHM_AES_256_GCM) {
        throw new UnknownKeyVersionError(`no ${envelope.algorithm} key version ${envelope.keyVersion}`);
      }
      return openAes256Gcm(key, envelope.sealed, aadFor(location)).toString('utf8');
    },
  };
}

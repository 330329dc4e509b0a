import type { DataCipher } from '../config/config.js';
import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { openChaCha20Poly1305, sealChaCha20Poly1305 } from '../lib/chacha20-poly1305.js';
import { ALGORITHM_AES_256_GCM } from './envelope-format.js';

export const ALGORITHM_CHACHA20_POLY1305 = 'C20P1305';

/** The AEADs Confide seals values with, by the name every envelope carries (`c1.<name>.<keyVersion>.…`). */
export type AlgorithmName = typeof ALGORITHM_AES_256_GCM | typeof ALGORITHM_CHACHA20_POLY1305;

/**
 * An authenticated cipher for stored values. Every one takes a 32-byte key, so a data key (32
 * random bytes) serves whichever algorithm is primary: the key version and the algorithm of a value
 * are independent, and switching algorithms needs no new key, only re-sealing.
 */
export interface DataAlgorithm {
  /** In every envelope; never changes once values carry it. */
  readonly name: AlgorithmName;
  /** As CONFIDE_DATA_CIPHER names it. */
  readonly configName: DataCipher;
  readonly keyBytes: 32;
  /** nonce ‖ ciphertext ‖ tag, with a fresh random nonce. */
  seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer;
  /** Throws DecryptionError when `sealed` does not authenticate under `key` and `aad`. */
  open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer;
}

const AES_256_GCM: DataAlgorithm = { name: ALGORITHM_AES_256_GCM, configName: 'aes-256-gcm', keyBytes: 32, seal: sealAes256Gcm, open: openAes256Gcm };
const CHACHA20_POLY1305: DataAlgorithm = { name: ALGORITHM_CHACHA20_POLY1305, configName: 'chacha20-poly1305', keyBytes: 32, seal: sealChaCha20Poly1305, open: openChaCha20Poly1305 };

/** Keyed by the configuration's name: a DataCipher added to the configuration without an algorithm here does not compile. */
const BY_CONFIG_NAME: Readonly<Record<DataCipher, DataAlgorithm>> = { 'aes-256-gcm': AES_256_GCM, 'chacha20-poly1305': CHACHA20_POLY1305 };

/** Every algorithm values may be sealed with; nothing else is read or written. */
export const DATA_ALGORITHMS: readonly DataAlgorithm[] = Object.values(BY_CONFIG_NAME);

/** What new values are sealed with when CONFIDE_DATA_CIPHER is unset. */
export const DEFAULT_DATA_ALGORITHM = AES_256_GCM;

/** A stored value names an algorithm this Confide does not know: refused, never guessed at. */
export class UnknownAlgorithmError extends Error {
  constructor(name: string) {
    super(`unknown cipher algorithm "${name.slice(0, 32)}" (known: ${DATA_ALGORITHMS.map((algorithm) => algorithm.name).join(', ')})`);
    this.name = 'UnknownAlgorithmError';
  }
}

/** The algorithm an envelope names; throws UnknownAlgorithmError for any other name. */
export function algorithmNamed(name: string): DataAlgorithm {
  const found = DATA_ALGORITHMS.find((algorithm) => algorithm.name === name);
  if (!found) throw new UnknownAlgorithmError(name);
  return found;
}

/** The algorithm CONFIDE_DATA_CIPHER chose (the configuration has refused any other name). */
export function algorithmForConfig(cipher: DataCipher): DataAlgorithm {
  return BY_CONFIG_NAME[cipher];
}

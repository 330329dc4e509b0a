import { algorithmNamed, DEFAULT_DATA_ALGORITHM, type DataAlgorithm } from './algorithms.js';
import { envelopeHeader, formatEnvelope, parseEnvelope } from './envelope-format.js';

/**
 * What a value is bound to. The AAD makes a ciphertext valid only in its own place:
 * copying it to another tenant, row or field makes decryption fail.
 */
export interface ValueLocation {
  table: string;
  rowId: string;
  field: string;
}

/**
 * Encrypts with the newest key of its owner and the primary algorithm; decrypts with any of the
 * owner's keys under any known algorithm, as the envelope names them.
 */
export interface Cipher {
  encrypt(plaintext: string, location: ValueLocation): string;
  decrypt(ciphertext: string, location: ValueLocation): string;
  /**
   * Whether `ciphertext` is sealed as encrypt would seal it now: the newest key version and the
   * primary algorithm. The re-encryption job re-seals what is not. Reads the envelope's header
   * only (cheap enough for every value of a table); it does not authenticate the value.
   */
  isCurrent(ciphertext: string): boolean;
}

export class UnknownKeyVersionError extends Error {}

/** The AAD of a value: its owner and location. Part of every stored ciphertext, so it never changes. */
export function additionalData(owner: string, location: ValueLocation): string {
  return `confide:v1:${owner}:${location.table}:${location.rowId}:${location.field}`;
}

export interface CipherOptions {
  /** What new values are sealed with (CONFIDE_DATA_CIPHER); any known algorithm still opens. */
  primary?: DataAlgorithm;
  /** The version that seals (the owner's active one); default the newest. Newer ones ('next') only open. */
  sealingVersion?: number;
  /** Told when a value names a version newer than any this cipher holds: its keys are stale. */
  onNewerVersion?: (version: number) => void;
}

/**
 * `primary` seals new values (CONFIDE_DATA_CIPHER); decryption takes the algorithm from each
 * envelope, so values sealed before the primary changed stay readable until re-sealed.
 */
export function createCipher(owner: string, keysByVersion: ReadonlyMap<number, Buffer>, options: CipherOptions = {}): Cipher {
  const primary = options.primary ?? DEFAULT_DATA_ALGORITHM;
  const newestVersion = Math.max(...keysByVersion.keys());
  const sealingVersion = options.sealingVersion ?? newestVersion;
  const sealingKey = keysByVersion.get(sealingVersion);
  if (!sealingKey) throw new Error(`no key version ${sealingVersion} to seal with`);
  const currentHeader = envelopeHeader(primary.name, sealingVersion);
  const aadFor = (location: ValueLocation) => Buffer.from(additionalData(owner, location), 'utf8');

  return {
    encrypt(plaintext, location) {
      const sealed = primary.seal(sealingKey, Buffer.from(plaintext, 'utf8'), aadFor(location));
      return formatEnvelope({ algorithm: primary.name, keyVersion: sealingVersion, sealed });
    },
    decrypt(ciphertext, location) {
      const envelope = parseEnvelope(ciphertext);
      const algorithm = algorithmNamed(envelope.algorithm);
      const key = keysByVersion.get(envelope.keyVersion);
      if (!key) {
        if (envelope.keyVersion > newestVersion) options.onNewerVersion?.(envelope.keyVersion);
        throw new UnknownKeyVersionError(`no key version ${envelope.keyVersion}`);
      }
      return algorithm.open(key, envelope.sealed, aadFor(location)).toString('utf8');
    },
    isCurrent: (ciphertext) => ciphertext.startsWith(currentHeader),
  };
}

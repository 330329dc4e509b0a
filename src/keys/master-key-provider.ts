import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkPrivateFile, ensurePrivateDirectory, writePrivateFile } from '../lib/private-path.js';
import type { MasterKeySource, Pkcs11Settings } from '../config/config.js';
import { inMemoryMasterKey, type MasterKey } from './master-key.js';
import { openPkcs11MasterKey } from './pkcs11-master-key.js';
import { Pkcs11KeyError } from './pkcs11-problems.js';

/**
 * What to do when no key exists yet. Only a new, empty deployment (`confide serve` on an empty data
 * directory) may create one; next to an existing database a new key could never open the data, so
 * the provider refuses and names that database.
 */
export type WhenKeyMissing = { create: true } | { create: false; existingDatabase: string };

/** Where the key-encryption key comes from: a key file, the environment, or an HSM (PKCS#11). */
export interface MasterKeyProvider {
  /** Names the source in messages, never the key: `master key file <path>` or `master key from CONFIDE_MASTER_KEY`. */
  readonly description: string;
  load(whenMissing: WhenKeyMissing): Promise<MasterKey>;
}

export class MasterKeyError extends Error {}

export function masterKeyProvider(source: MasterKeySource): MasterKeyProvider {
  if (source.kind === 'pkcs11') return pkcs11KeyProvider(source);
  return source.kind === 'env' ? environmentKeyProvider(source.keyBase64) : keyFileProvider(source.file);
}

/**
 * A key in an HSM token (src/keys/pkcs11-master-key.ts). A new deployment's first start generates
 * it in the token when its label is free; next to existing data a missing key is refused.
 */
function pkcs11KeyProvider(settings: Pkcs11Settings): MasterKeyProvider {
  return {
    description: `PKCS#11 key "${settings.keyLabel}" on token "${settings.tokenLabel}"`,
    async load(whenMissing) {
      try {
        return openPkcs11MasterKey(settings, whenMissing.create);
      } catch (error) {
        throw error instanceof Pkcs11KeyError ? new MasterKeyError(error.message) : error;
      }
    },
  };
}

function environmentKeyProvider(keyBase64: string): MasterKeyProvider {
  return {
    description: 'master key from CONFIDE_MASTER_KEY',
    load: async () => inMemoryMasterKey('env', Buffer.from(keyBase64, 'base64'), 'master key from CONFIDE_MASTER_KEY'),
  };
}

/**
 * A key file holding base64 of 32 random bytes, created with mode 0600 on a new deployment's first start.
 * A key file, or a directory holding it, that group or others can reach is refused (UnsafePathError):
 * the master key unlocks every tenant's data, and whoever can write the directory can swap the key.
 */
function keyFileProvider(file: string): MasterKeyProvider {
  return {
    description: `master key file ${file}`,
    async load(whenMissing) {
      // Checked (or made) before the file is read; a refusal below creates not even the directory.
      if (whenMissing.create || existsSync(dirname(file))) ensurePrivateDirectory(dirname(file), 'master key directory');
      let text: string;
      try {
        checkPrivateFile(file, 'master key file');
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (!whenMissing.create) {
          throw new MasterKeyError(
            `the master key file ${file} is missing but the database ${whenMissing.existingDatabase} exists: ` +
              'restore the key file (CONFIDE_MASTER_KEY_FILE); a new key cannot open existing data',
          );
        }
        text = randomBytes(32).toString('base64');
        writePrivateFile(file, `${text}\n`, 'wx');
      }
      const key = Buffer.from(text.trim(), 'base64');
      if (key.length !== 32) throw new MasterKeyError(`master key file ${file} does not hold 32 base64 bytes`);
      return inMemoryMasterKey('file', key, `master key file ${file}`);
    },
  };
}

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkPrivateFile, ensurePrivateDirectory, writePrivateFile } from '../lib/private-path.js';
import type { MasterKeySource } from '../config/config.js';

/** Where the key-encryption key comes from: a key file, the environment, later an HSM. */
export interface MasterKeyProvider {
  readonly description: string;
  load(): Promise<Buffer>;
}

export class MasterKeyError extends Error {}

export function masterKeyProvider(source: MasterKeySource): MasterKeyProvider {
  return source.kind === 'env' ? environmentKeyProvider(source.keyBase64) : keyFileProvider(source.file);
}

function environmentKeyProvider(keyBase64: string): MasterKeyProvider {
  return {
    description: 'CONFIDE_MASTER_KEY',
    load: async () => Buffer.from(keyBase64, 'base64'),
  };
}

/**
 * A key file holding base64 of 32 random bytes, created with mode 0600 on first start.
 * A key file, or a directory holding it, that group or others can reach is refused (UnsafePathError):
 * the master key unlocks every tenant's data, and whoever can write the directory can swap the key.
 */
function keyFileProvider(file: string): MasterKeyProvider {
  return {
    description: file,
    async load() {
      ensurePrivateDirectory(dirname(file), 'master key directory');
      let text: string;
      try {
        checkPrivateFile(file, 'master key file');
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        text = randomBytes(32).toString('base64');
        writePrivateFile(file, `${text}\n`, 'wx');
      }
      const key = Buffer.from(text.trim(), 'base64');
      if (key.length !== 32) throw new MasterKeyError(`master key file ${file} does not hold 32 base64 bytes`);
      return key;
    },
  };
}

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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
 * A file readable by group or others is refused: the master key unlocks every tenant's data.
 */
function keyFileProvider(file: string): MasterKeyProvider {
  return {
    description: file,
    async load() {
      let text: string;
      try {
        const mode = statSync(file).mode & 0o777;
        if ((mode & 0o077) !== 0) {
          throw new MasterKeyError(
            `master key file ${file} is readable by others (mode ${mode.toString(8)}); run chmod 600 on it`,
          );
        }
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        text = randomBytes(32).toString('base64');
        writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
        chmodSync(file, 0o600);
      }
      const key = Buffer.from(text.trim(), 'base64');
      if (key.length !== 32) throw new MasterKeyError(`master key file ${file} does not hold 32 base64 bytes`);
      return key;
    },
  };
}

import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { deriveKey } from '../lib/key-derivation.js';
import { checkPrivateFile, writePrivateFile } from '../lib/private-path.js';
import type { MasterKey } from './master-key.js';

/** What the SQLCipher page key is bound to when it rests wrapped. */
const PAGE_KEY_AAD = Buffer.from('confide:sqlcipher-page-key', 'utf8');

/** The file that holds the SQLite database's page key, wrapped under the master key: next to the database. */
export const databaseKeyFile = (databaseFile: string) => `${databaseFile}.key`;

interface DatabaseKeyFile {
  /** Which master key wrapped it (MasterKey.id), to name the mismatch when the wrong one is given. */
  masterKeyId: string;
  wrapped: string;
}

export class DatabaseKeyError extends Error {}

/**
 * The SQLCipher page key of the embedded database. Deployments created with a key file or
 * CONFIDE_MASTER_KEY derive it from the master key's bytes (HKDF, `sqlcipher-page-key`), as they
 * always have. An HSM key has no bytes to derive from, and a rotated master key must not leave the
 * pages under a key derived from the old one: then the page key is random, and rests wrapped under
 * the master key in `<database>.key` (mode 0600), which takes precedence when it exists.
 */
export function databasePageKey(databaseFile: string, masterKey: MasterKey, creating: boolean): Buffer {
  const file = databaseKeyFile(databaseFile);
  if (existsSync(file)) return readDatabaseKey(file, masterKey);
  const bytes = masterKey.legacyBytes();
  if (bytes) return deriveKey(bytes, 'sqlcipher-page-key');
  if (!creating) throw new DatabaseKeyError(`the database key file ${file} is missing: the database ${databaseFile} cannot be opened with ${masterKey.description}`);
  const pageKey = randomBytes(32);
  writeDatabaseKey(file, masterKey, pageKey, 'wx');
  return pageKey;
}

export function readDatabaseKey(file: string, masterKey: MasterKey): Buffer {
  checkPrivateFile(file, 'database key file');
  const content = JSON.parse(readFileSync(file, 'utf8')) as DatabaseKeyFile;
  if (content.masterKeyId !== masterKey.id) {
    throw new DatabaseKeyError(`the database key file ${file} was wrapped by master key ${content.masterKeyId}, not by ${masterKey.description} (${masterKey.id})`);
  }
  return masterKey.unwrap(content.wrapped, PAGE_KEY_AAD);
}

/** Writes `pageKey` wrapped under `masterKey` (a new random page key after a re-key, or the same one re-wrapped). */
export function writeDatabaseKey(file: string, masterKey: MasterKey, pageKey: Buffer, flag: 'w' | 'wx' = 'w'): void {
  const content: DatabaseKeyFile = { masterKeyId: masterKey.id, wrapped: masterKey.wrap(pageKey, PAGE_KEY_AAD) };
  writePrivateFile(file, `${JSON.stringify(content)}\n`, flag);
}

import { existsSync } from 'node:fs';
import { WrongDatabaseKeyError } from '../db/open-encrypted-sqlite.js';
import { databaseKeyFile, databasePageKey, DatabaseKeyError, readDatabaseKey } from './database-key.js';
import { renameDurably } from './durable-file.js';
import type { MasterKey } from './master-key.js';

/** Where a master key change stages the next page key (src/keys/sqlite-rekey.ts) before it takes `<database>.key`'s place. */
export const nextDatabaseKeyFile = (databaseFile: string) => `${databaseKeyFile(databaseFile)}.next`;

/**
 * Opens the embedded database with its page key: the current one (`<database>.key`, or derived
 * from a file or environment key), else the staged `<database>.key.next`. A master key change that
 * stopped after re-keying the pages, or after its re-wrap committed, leaves the key that opens the
 * database only there; the first start that opens with it moves it into place, finishing the change.
 */
export async function openWithPageKey<T>(databaseFile: string, masterKey: MasterKey, creating: boolean, open: (pageKey: Buffer) => Promise<T>): Promise<T> {
  const next = nextDatabaseKeyFile(databaseFile);
  let refusal: unknown;
  try {
    return await open(databasePageKey(databaseFile, masterKey, creating));
  } catch (error) {
    const otherKey = error instanceof WrongDatabaseKeyError || error instanceof DatabaseKeyError;
    if (!otherKey || !existsSync(next)) throw error;
    refusal = error;
  }
  let staged: Buffer;
  try {
    staged = readDatabaseKey(next, masterKey);
  } catch {
    throw refusal; // staged for another master key: the current file's refusal says more
  }
  const opened = await open(staged);
  renameDurably(next, databaseKeyFile(databaseFile));
  return opened;
}

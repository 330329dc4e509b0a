import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3-multiple-ciphers';
import { openEncryptedSqlite } from '../db/open-encrypted-sqlite.js';
import { databaseKeyFile, writeDatabaseKey } from './database-key.js';
import { renameDurably, syncToDisk } from './durable-file.js';
import { checkRecordedMasterKey } from './master-key-change-checks.js';
import type { MasterKey } from './master-key.js';
import { nextDatabaseKeyFile, openWithPageKey } from './open-with-page-key.js';

/**
 * The SQLite half of a master key change, before the key ring is re-wrapped: the pages are
 * re-keyed under a new random page key, and that key is staged wrapped under the next master key.
 * PRAGMA rekey is not part of any transaction and refuses WAL mode, so the steps are ordered for
 * a crash at any point to leave a database that opens (src/keys/open-with-page-key.ts):
 *  1. `<db>.key.next` ← new page key wrapped under the current master key (synced);
 *  2. journal_mode=DELETE, PRAGMA rekey (all or nothing: a hot journal rolls it back), WAL again;
 *  3. `<db>.key.next` renamed to `<db>.key` (the current master key opens the pages again);
 *  4. `<db>.key.next` ← the same page key wrapped under the next master key (synced).
 * The caller then re-wraps the key ring in one transaction, and finishes with finishSqliteRekey.
 * Refused while another process (`confide serve`) has the database open.
 */
export async function rekeySqlite(databaseFile: string, current: MasterKey, next: MasterKey): Promise<void> {
  const handle = await openWithPageKey(databaseFile, current, false, async (pageKey) => openEncryptedSqlite(databaseFile, pageKey));
  const staged = nextDatabaseKeyFile(databaseFile);
  const pageKey = randomBytes(32);
  try {
    const recorded = handle.prepare(`SELECT value FROM system_meta WHERE key = 'master_key_id'`).get() as { value: string } | undefined;
    checkRecordedMasterKey(recorded?.value, current, next);
    stage(staged, current, pageKey);
    rekeyPages(handle, databaseFile, pageKey);
  } finally {
    handle.close();
  }
  renameDurably(staged, databaseKeyFile(databaseFile));
  stage(staged, next, pageKey);
  pageKey.fill(0);
}

/** After the re-wrap committed: the staged page key (under the next master key) takes `<db>.key`'s place. */
export function finishSqliteRekey(databaseFile: string): void {
  const staged = nextDatabaseKeyFile(databaseFile);
  if (existsSync(staged)) renameDurably(staged, databaseKeyFile(databaseFile));
}

function stage(file: string, masterKey: MasterKey, pageKey: Buffer): void {
  writeDatabaseKey(file, masterKey, pageKey, 'w');
  syncToDisk(file);
  syncToDisk(dirname(file));
}

function rekeyPages(handle: Database.Database, databaseFile: string, pageKey: Buffer): void {
  let mode: unknown;
  try {
    handle.pragma('busy_timeout=1000');
    mode = handle.pragma('journal_mode=DELETE', { simple: true });
  } catch (error) {
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
  }
  if (mode !== 'delete') {
    throw new Error(`the database ${databaseFile} is open in another process: stop \`confide serve\` (and every other confide command) first, then run this again`);
  }
  handle.pragma(`rekey="x'${pageKey.toString('hex')}'"`);
  handle.pragma('journal_mode=WAL');
}

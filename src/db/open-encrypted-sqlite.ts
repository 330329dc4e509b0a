import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { ensurePrivateFile, restrictToOwner } from '../lib/private-path.js';

export class WrongDatabaseKeyError extends Error {
  constructor() {
    super('the database cannot be opened with this master key');
    this.name = 'WrongDatabaseKeyError';
  }
}

/**
 * Opens (or creates) the embedded database as an SQLCipher v4 file: AES-256 page encryption,
 * HMAC-SHA512 page authentication. `rawKey` is used directly (no passphrase KDF), since it is
 * already a uniformly random 256-bit key derived from the master key.
 *
 * WAL with synchronous=FULL: a transaction is on disk before its commit returns, so an
 * acknowledged write survives the process being killed, and a power cut.
 *
 * The file is made 0600 before SQLite opens it: SQLite would create it 0644 (less the umask), and
 * its unix VFS gives the -wal, -shm and -journal files the mode of the database file.
 */
export function openEncryptedSqlite(file: string, rawKey: Buffer): Database.Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  ensurePrivateFile(file);
  // Left by an earlier version or a crash; SQLite reuses them with the mode they have.
  for (const suffix of ['-wal', '-shm', '-journal']) restrictToOwner(`${file}${suffix}`);
  const db = new Database(file);
  try {
    unlockSqlCipher(db, rawKey);
    db.pragma('journal_mode=WAL');
    db.pragma('synchronous=FULL');
    db.pragma('foreign_keys=ON');
    db.pragma('busy_timeout=5000');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Keys a freshly opened handle in SQLCipher v4 mode with the raw 256-bit page key, and proves the
 * key by reading the schema: a wrong key fails here with WrongDatabaseKeyError, not later with
 * "file is not a database". For the server's handle and for read-only ones (a backup's snapshot).
 */
export function unlockSqlCipher(db: Database.Database, rawKey: Buffer): void {
  db.pragma(`cipher='sqlcipher'`);
  db.pragma('legacy=4');
  // The key must be the first statement after choosing the cipher.
  db.pragma(`key="x'${rawKey.toString('hex')}'"`);
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch {
    throw new WrongDatabaseKeyError();
  }
}

import Sqlite from 'better-sqlite3-multiple-ciphers';
import { describe, expect, it } from 'vitest';
import { dumpDatabase, type DumpSource } from '../../src/backup/database-dump.js';

/**
 * A snapshot whose close fails as a rollback on a broken connection does: the dump's own error must
 * still be the one told (and a close that fails after a whole dump is still an error).
 * Dialect-free: the rule is dumpDatabase's, the SQLite reader only its vehicle.
 */
function brokenHandle(options: { migrations: boolean }): Sqlite.Database {
  const handle = new Sqlite(':memory:');
  if (options.migrations) handle.exec("CREATE TABLE kysely_migration (name TEXT); INSERT INTO kysely_migration VALUES ('0001')");
  const close = handle.close.bind(handle);
  handle.close = () => {
    close();
    throw new Error('rollback failed: connection is not queryable');
  };
  return handle;
}

const source = { dialect: { name: 'sqlite' } } as unknown as DumpSource;

describe('a dump whose snapshot cannot be closed (src/backup/database-dump.ts)', () => {
  it('rethrows the dump error, not the failed close', async () => {
    const lines = dumpDatabase(source, { openSqliteSnapshot: () => brokenHandle({ migrations: false }) });
    await expect(lines.next()).rejects.toThrow('no such table: kysely_migration');
  });

  it('still reports a failed close when nothing else failed (the generator abandoned by return())', async () => {
    const lines = dumpDatabase(source, { openSqliteSnapshot: () => brokenHandle({ migrations: true }) });
    expect((await lines.next()).value).toMatchObject({ t: 'schema', migration: '0001' });
    await expect(lines.return(undefined)).rejects.toThrow('rollback failed');
  });
});

import { describe, expect, it } from 'vitest';
import { fromStorage, storageFault } from './storage-fault.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('storageFault (src/lib/storage-fault.ts)', () => {
  it('guesses the store from the code when nobody says: an errno is the file store, SQLite or a SQLSTATE the database', () => {
    expect(storageFault(errno('ENOSPC'))).toEqual({ reason: 'storage_full', component: 'files' });
    expect(storageFault(errno('SQLITE_FULL'))).toEqual({ reason: 'storage_full', component: 'database' });
    expect(storageFault(errno('58030'))).toEqual({ reason: 'storage_failed', component: 'database' });
    // What PostgreSQL sends when a table's file cannot grow (seen in test/integration/disk-full.test.ts).
    const pgFull = Object.assign(new Error('could not extend file "pg_tblspc/16384/PG_15_202209061/16385/16400": No space left on device'), { code: '53100' });
    expect(storageFault(pgFull)).toEqual({ reason: 'storage_full', component: 'database' });
    expect(storageFault(errno('ECONNRESET'))).toBeUndefined();
  });

  it('takes the store from the caller, or from a mark on the error or a wrapper of it (an ENOSPC of the backup writer is backups)', () => {
    expect(storageFault(errno('ENOSPC'), 'backups')).toEqual({ reason: 'storage_full', component: 'backups' });
    expect(storageFault(fromStorage(errno('EIO'), 'backups'))).toEqual({ reason: 'storage_failed', component: 'backups' });
    const wrapped = fromStorage(new Error('writing the archive failed', { cause: errno('EDQUOT') }), 'backups');
    expect(storageFault(wrapped)).toEqual({ reason: 'storage_full', component: 'backups' });
    // The mark is not enumerable: it never shows in a log line or an answer.
    expect(Object.keys(wrapped)).not.toContain('storageComponent');
  });
});

import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import { openObjectStore } from '../../src/storage/open-object-store.js';
import { ObjectStoreError } from '../../src/storage/object-store.js';

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += (chunk as Buffer).toString('utf8');
  return out;
}

describe('folder object store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'confide-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('puts, gets, lists and removes objects, private to its user', async () => {
    const store = openObjectStore(join(dir, 'target'));
    await store.put('backups/a.cbk', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    await store.put('tenant-keys/t1', Readable.from([Buffer.from('k')]));
    expect(await text(store.get('backups/a.cbk'))).toBe('hello world');
    expect((await store.list('backups/')).map((o) => [o.name, o.bytes])).toEqual([['backups/a.cbk', 11]]);
    expect((await store.list('')).map((o) => o.name)).toEqual(['backups/a.cbk', 'tenant-keys/t1']);
    expect(statSync(join(dir, 'target', 'backups', 'a.cbk')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'target', 'backups')).mode & 0o777).toBe(0o700);
    await store.remove('backups/a.cbk');
    await store.remove('backups/a.cbk'); // a missing one is no error
    expect(await store.list('backups/')).toEqual([]);
  });

  it('leaves nothing under the name when the source fails midway', async () => {
    const store = new FolderObjectStore(dir);
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial');
        throw new Error('the dump failed');
      })(),
    );
    await expect(store.put('backups/b.cbk', failing)).rejects.toThrow('the dump failed');
    expect(readdirSync(join(dir, 'backups'))).toEqual([]);
  });

  it('says a missing object is missing', async () => {
    const store = new FolderObjectStore(dir);
    await expect(text(store.get('backups/none.cbk'))).rejects.toMatchObject({ name: 'ObjectStoreError', kind: 'missing' });
    expect(await new FolderObjectStore(join(dir, 'not-yet')).list('')).toEqual([]);
  });

  // Tests run as root, so chmod cannot make a folder unwritable. sysfs refuses to create anything,
  // even for root (EPERM), a real "denied"; a folder under a regular file fails with ENOTDIR.
  it('maps a folder nobody may write to to kind denied', async () => {
    const store = new FolderObjectStore('/sys/confide-backup-target-test');
    const error = await store.put('backups/c.cbk', Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error).toMatchObject({ kind: 'denied' });
    expect((error as Error).message).toMatch(/^backup target folder \/sys\/confide-backup-target-test: cannot write backups\/c\.cbk: permission denied/);
  });

  it('maps a folder under a regular file to kind unavailable', async () => {
    writeFileSync(join(dir, 'plain-file'), 'x');
    const store = new FolderObjectStore(join(dir, 'plain-file', 'target'));
    await expect(store.put('backups/d.cbk', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('refuses names that would leave the folder, and relative targets', async () => {
    const store = new FolderObjectStore(dir);
    await expect(store.put('../escape', Readable.from([Buffer.from('x')]))).rejects.toThrow(/invalid object name/);
    expect(() => openObjectStore('relative/target')).toThrow(/absolute/);
  });

  it('sweeps temporary files a dead writer left (untouched for the age given), anywhere, and no others', async () => {
    const store = new FolderObjectStore(dir);
    await store.put('tenant-keys/t1', Readable.from([Buffer.from('k')]));
    mkdirSync(join(dir, 'backups'));
    const stale = [join(dir, 'tenant-keys', 't2.0123456789ab.partial'), join(dir, 'backups', 'x.cbk.0123456789ab.partial')];
    const fresh = join(dir, 'backups', 'y.cbk.ba9876543210.partial');
    for (const file of [...stale, fresh]) writeFileSync(file, 'half');
    const twoHoursAgo = new Date(Date.now() - 7200_000);
    for (const file of stale) utimesSync(file, twoHoursAgo, twoHoursAgo);
    expect((await store.sweepPartials(new Date(Date.now() - 3600_000))).sort()).toEqual(['backups/x.cbk.0123456789ab.partial', 'tenant-keys/t2.0123456789ab.partial']);
    expect(readdirSync(join(dir, 'backups'))).toEqual(['y.cbk.ba9876543210.partial']);
    expect(readdirSync(join(dir, 'tenant-keys'))).toEqual(['t1']);
    expect(await new FolderObjectStore(join(dir, 'not-yet')).sweepPartials(new Date())).toEqual([]);
  });

  it('closes the file when its reader gives up part-way (a damaged archive)', async () => {
    const store = new FolderObjectStore(dir);
    await store.put('backups/big.cbk', Readable.from([Buffer.alloc(4 * 1024 * 1024)]));
    const file = join(dir, 'backups', 'big.cbk');
    const openOnFile = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(join('/proc/self/fd', fd)) === file;
      } catch {
        return false;
      }
    }).length;
    const stream = store.get('backups/big.cbk');
    for await (const _chunk of stream) break; // destroys the stream, as readArchive does on damage
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openOnFile()).toBe(0);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import { writeArchive } from '../../src/backup/archive-writer.js';
import { readArchive, type ArchiveConsumer } from '../../src/backup/archive-reader.js';
import { archiveName, manifestName, type BackupManifest } from '../../src/backup/backup-manifest.js';
import { readSealed } from '../../src/backup/sealed-object.js';
import { STREAM_HEADER_BYTES, DEFAULT_CHUNK_BYTES } from '../../src/lib/stream-aead.js';
import type { DumpLine } from '../../src/backup/dump-format.js';

const ID = '20260101T000000Z-0123abcd';
const masterKey = inMemoryMasterKey('env', randomBytes(32), 'test master key');

/** A tiny stand-in dump (the real one is database-dump.ts, tested on its own): two tables, one naming a blob. */
function dumpLines(rows: number): DumpLine[] {
  const lines: DumpLine[] = [{ t: 'schema', dialect: 'sqlite', migration: '0013' }, { t: 'table', table: 'tenants', columns: ['id'] }];
  for (let i = 0; i < rows; i += 1) lines.push({ t: 'row', v: [`tenant-${i}-${'x'.repeat(200)}`] });
  lines.push({ t: 'end', table: 'tenants', rows, sha256: 'a'.repeat(64) });
  lines.push({ t: 'table', table: 'record_files', columns: ['tenant_id', 'storage_id'] }, { t: 'row', v: ['t1', 'blob1'] }, { t: 'row', v: ['t1', 'gone'] });
  lines.push({ t: 'end', table: 'record_files', rows: 2, sha256: 'b'.repeat(64) });
  return lines;
}

describe('backup archives', () => {
  let dir: string;
  let store: FolderObjectStore;
  const blob = randomBytes(3 * 1024 * 1024 + 17);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'confide-archive-'));
    store = new FolderObjectStore(join(dir, 'target'));
    await writeArchive({
      store,
      masterKey,
      id: ID,
      createdAt: '2026-01-01T00:00:00.000Z',
      source: { dialect: 'sqlite', migration: '0013', node: 'test', release: '0.0.0' },
      dump: Readable.from(dumpLines(2000)),
      openBlob: (_tenant, storageId) => {
        if (storageId === 'blob1') return Readable.from([blob.subarray(0, 1000), blob.subarray(1000)]);
        const missing = new Readable({ read() {} });
        process.nextTick(() => missing.destroy(Object.assign(new Error('no such blob'), { code: 'ENOENT' })));
        return missing;
      },
      sentinelSha256: 'c'.repeat(64),
      now: () => new Date('2026-01-01T00:00:05.000Z'),
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const collect = () => {
    const seen = { lines: [] as DumpLine[], blobs: [] as Array<{ ref: unknown; bytes: Buffer }> };
    const consumer: ArchiveConsumer = {
      dump: async (lines) => {
        for await (const line of lines) seen.lines.push(line);
      },
      blob: async (ref, bytes) => {
        const parts: Buffer[] = [];
        for await (const part of bytes) parts.push(part);
        seen.blobs.push({ ref, bytes: Buffer.concat(parts) });
      },
    };
    return { seen, consumer };
  };

  it('round-trips dump lines, blobs and the manifest, and the .manifest object agrees', async () => {
    const { seen, consumer } = collect();
    const read = await readArchive(store, masterKey, ID, consumer);
    expect(seen.lines).toEqual(dumpLines(2000));
    expect(seen.blobs).toHaveLength(1);
    expect(seen.blobs[0]!.bytes.equals(blob)).toBe(true);
    expect(read.manifest).toMatchObject({ id: ID, tenants: 2000, files: { count: 1, bytes: blob.length }, missingBlobs: [{ tenantId: 't1', storageId: 'gone' }] });
    expect(read.manifest.tables.map((t) => t.table)).toEqual(['tenants', 'record_files']);
    const sealed = await readSealed(store, manifestName(ID));
    const { unwrapBackupKey } = await import('../../src/backup/archive-reader.js');
    const onDisk = sealed.open<BackupManifest>(unwrapBackupKey(sealed.header, masterKey), 'manifest');
    expect(onDisk.archive).toEqual({ bytes: read.bytes, sha256: read.sha256 });
    // Nothing of the content is in clear in the archive.
    expect(readFileSync(join(dir, 'target', archiveName(ID))).includes(Buffer.from('tenant-1'))).toBe(false);
  });

  const file = () => join(dir, 'target', archiveName(ID));
  const headerLength = () => 4 + readFileSync(file()).readUInt32BE(0);
  const sealedChunk = DEFAULT_CHUNK_BYTES + 16;

  const damages: Array<[string, (bytes: Buffer) => Buffer, RegExp]> = [
    ['one byte flipped', (b) => { b[b.length - 5000]! ^= 1; return b; }, /backup 20260101T000000Z-0123abcd is damaged: chunk \d+ of the archive does not authenticate/],
    ['a chunk cut off', (b) => b.subarray(0, headerLength() + STREAM_HEADER_BYTES + 3 * sealedChunk), /is damaged: the archive is truncated/],
    ['two chunks swapped', (b) => {
      const at = headerLength() + STREAM_HEADER_BYTES;
      const first = Buffer.from(b.subarray(at, at + sealedChunk));
      b.copy(b, at, at + sealedChunk, at + 2 * sealedChunk);
      first.copy(b, at + sealedChunk);
      return b;
    }, /is damaged: chunk 0 of the archive does not authenticate/],
    ['its header edited', (b) => {
      const text = b.toString('latin1').replace('"createdAt":"2026-01-01', '"createdAt":"2026-01-02');
      return Buffer.from(text, 'latin1');
    }, /is damaged: chunk 0 of the archive does not authenticate/],
  ];
  it.each(damages)('refuses an archive with %s, naming the backup', async (_what, damage, message) => {
    writeFileSync(file(), damage(readFileSync(file())));
    await expect(readArchive(store, masterKey, ID, collect().consumer)).rejects.toThrow(message);
  });

  it('refuses another master key with a clear message', async () => {
    const other = inMemoryMasterKey('env', randomBytes(32), 'other master key');
    await expect(readArchive(store, other, ID, collect().consumer)).rejects.toThrow(/backup 20260101T000000Z-0123abcd was made under master key [0-9a-f]{16}; the configured other master key is/);
  });
});

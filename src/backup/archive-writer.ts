import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { newAes256Key } from '../lib/aes-gcm.js';
import { sealStream } from '../lib/stream-aead.js';
import type { MasterKey } from '../keys/master-key.js';
import type { ObjectStore } from '../storage/object-store.js';
import { FRAME, MAX_FILE_FRAME_BYTES, encodeFrame, jsonFrame } from './archive-frames.js';
import { ARCHIVE_FORMAT, backupKeyAad, encodeHeader, type ArchiveHeader, type BackupSource } from './archive-header.js';
import { archiveName, manifestName, type BackupManifest } from './backup-manifest.js';
import type { DumpLine, TableSummary } from './dump-format.js';
import { putSealed } from './sealed-object.js';

export interface ArchiveInput {
  store: ObjectStore;
  masterKey: MasterKey;
  id: string;
  createdAt: string;
  source: BackupSource;
  /** The database's lines, from one consistent snapshot (database-dump.ts). */
  dump: AsyncIterable<DumpLine>;
  /** A blob's sealed bytes as they rest; a missing blob fails the stream with code ENOENT (or ObjectStoreError `missing`). */
  openBlob(tenantId: string, storageId: string): Readable;
  sentinelSha256: string;
  now(): Date;
}

interface Tally {
  tables: TableSummary[];
  tenants: number;
  blobs: Array<{ tenantId: string; storageId: string }>;
  files: { count: number; bytes: number };
  missingBlobs: Array<{ tenantId: string; storageId: string }>;
}

/**
 * Writes `backups/<id>.cbk` and `backups/<id>.manifest`, streaming end to end: dump lines and
 * blobs become frames, frames go through sealStream, the sealed bytes (behind the clear header)
 * go to the store as they come. Memory holds a chunk or two and the list of blob names, never the archive.
 */
export async function writeArchive(input: ArchiveInput): Promise<BackupManifest> {
  const backupKey = newAes256Key();
  const header: ArchiveHeader = {
    format: ARCHIVE_FORMAT,
    id: input.id,
    createdAt: input.createdAt,
    source: input.source,
    masterKeyId: input.masterKey.id,
    wrappedBackupKey: input.masterKey.wrap(backupKey, backupKeyAad(input.id)),
  };
  const encoded = encodeHeader(header);
  const tally: Tally = { tables: [], tenants: 0, blobs: [], files: { count: 0, bytes: 0 }, missingBlobs: [] };
  let manifest: BackupManifest | undefined;
  const body = Readable.from(
    (async function* () {
      yield* dumpFrames(input.dump, tally);
      yield* blobFrames(input, tally);
      manifest = {
        format: ARCHIVE_FORMAT,
        id: input.id,
        createdAt: input.createdAt,
        finishedAt: input.now().toISOString(),
        source: input.source,
        tenants: tally.tenants,
        tables: tally.tables,
        files: tally.files,
        missingBlobs: tally.missingBlobs,
        sentinel: { sha256: input.sentinelSha256 },
      };
      yield jsonFrame(FRAME.manifest, manifest);
    })(),
    { objectMode: false },
  );
  const sealed = pipeline(body, sealStream(backupKey, encoded), () => undefined);
  const digest = createHash('sha256');
  let bytes = 0;
  // The hash is taken as the bytes pass (no 'data' listener: that would bypass the store's back-pressure).
  const archive = Readable.from(
    (async function* () {
      for (const chunk of [encoded] as Iterable<Buffer>) {
        digest.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
      for await (const chunk of sealed) {
        digest.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    })(),
  );
  await putOrRelease(input.store, archiveName(input.id), archive, [sealed, body]);
  const complete: BackupManifest = { ...manifest!, archive: { bytes, sha256: digest.digest('hex') } };
  await putSealed(input.store, manifestName(input.id), encoded, backupKey, 'manifest', complete);
  backupKey.fill(0);
  return complete;
}

/**
 * Puts `archive`; when the store fails without reading it to the end, the generators behind it are
 * left paused, the dump's snapshot with them (a pooled connection in a read transaction, a SQLite
 * read handle): destroying the streams returns the generators, and the snapshot closes.
 */
async function putOrRelease(store: ObjectStore, name: string, archive: Readable, behind: Readable[]): Promise<void> {
  try {
    await store.put(name, archive);
  } catch (error) {
    for (const stream of [archive, ...behind]) stream.destroy();
    throw error;
  }
}

/** The dump's lines as frames; notes each table's summary, the tenant count, and which blobs the rows name. */
async function* dumpFrames(dump: AsyncIterable<DumpLine>, tally: Tally): AsyncIterable<Buffer> {
  let blobColumns: { tenant: number; storage: number } | null = null;
  for await (const line of dump) {
    if (line.t === 'table') {
      blobColumns = line.table === 'record_files' ? { tenant: line.columns.indexOf('tenant_id'), storage: line.columns.indexOf('storage_id') } : null;
    } else if (line.t === 'row' && blobColumns) {
      tally.blobs.push({ tenantId: line.v[blobColumns.tenant] as string, storageId: line.v[blobColumns.storage] as string });
    } else if (line.t === 'end') {
      tally.tables.push({ table: line.table, rows: line.rows, sha256: line.sha256 });
      if (line.table === 'tenants') tally.tenants = line.rows;
      blobColumns = null;
    }
    yield jsonFrame(FRAME.dumpLine, line);
  }
}

const isMissing = (error: unknown) => {
  const e = error as { code?: string; kind?: string } | undefined;
  return e?.code === 'ENOENT' || e?.kind === 'missing';
};

/** Each blob the dump named: a start frame, its bytes in frames of ≤ 1 MiB, an end frame. A blob gone since the snapshot is listed as missing. */
async function* blobFrames(input: ArchiveInput, tally: Tally): AsyncIterable<Buffer> {
  for (const blob of tally.blobs) {
    let started = false;
    let size = 0;
    try {
      for await (const chunk of input.openBlob(blob.tenantId, blob.storageId)) {
        if (!started) yield jsonFrame(FRAME.fileStart, blob);
        started = true;
        const data = chunk as Buffer;
        for (let at = 0; at < data.length; at += MAX_FILE_FRAME_BYTES) yield encodeFrame(FRAME.fileBytes, data.subarray(at, at + MAX_FILE_FRAME_BYTES));
        size += data.length;
      }
    } catch (error) {
      if (started || !isMissing(error)) throw error;
      tally.missingBlobs.push(blob);
      continue;
    }
    if (!started) yield jsonFrame(FRAME.fileStart, blob);
    yield encodeFrame(FRAME.fileEnd, Buffer.alloc(0));
    tally.files.count += 1;
    tally.files.bytes += size;
  }
}

import { randomBytes } from 'node:crypto';
import { FolderObjectStore } from '../storage/folder-object-store.js';
import { writeArchive } from './archive-writer.js';
import type { BackupSource } from './archive-header.js';
import { archiveName, manifestName, type BackupManifest } from './backup-manifest.js';
import { pruneSentinels, writeSentinel } from './backup-sentinel.js';
import type { BackupsDeps } from './backups-deps.js';
import { dumpDatabase } from './database-dump.js';
import type { DumpLine } from './dump-format.js';
import { sqliteSnapshotOpener } from './sqlite-snapshot.js';
import { syncTenantKeyObjects } from './tenant-key-objects.js';

/** `YYYYMMDDTHHMMSSZ-<8 hex>`: sortable by time, unique enough across nodes. */
export function newBackupId(now: Date): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}-${randomBytes(4).toString('hex')}`;
}

/** Temporary files of a folder target untouched this long belong to a process that died (a live write touches its file all along). */
const STALE_PARTIAL_MS = 3600_000;

/**
 * Makes one backup: the sentinel, then the archive, streamed from one consistent snapshot of the
 * database (a second read-only handle on SQLite, so serving goes on) and the blobs its rows name,
 * then the tenant keys at the target brought in step. A run that fails removes what it wrote of
 * this backup, so no archive without its manifest is ever left for `restore --latest` to pick.
 */
export async function createBackup(deps: BackupsDeps): Promise<BackupManifest> {
  const createdAt = deps.clock.now();
  const id = newBackupId(createdAt);
  const keyDir = deps.config.tenantKeyStore === 'file' ? deps.config.tenantKeyDir : null;
  if (deps.store instanceof FolderObjectStore) await deps.store.sweepPartials(new Date(Date.now() - STALE_PARTIAL_MS));
  // Before the archive too: a target that cannot take the keys fails the backup before it writes an archive no tenant would open from.
  if (keyDir) await syncTenantKeyObjects(deps.store, keyDir);
  const sentinelSha256 = await writeSentinel(deps.db, deps.keyRing.systemCipher(), id);
  try {
    const manifest = await writeFromSnapshot(deps, id, createdAt, sentinelSha256);
    // After the snapshot: every tenant in it has had its key made by now (a key is made before its
    // tenant's row commits), and one deleted since is shredded at the target too.
    if (keyDir) await syncTenantKeyObjects(deps.store, keyDir);
    return manifest;
  } catch (error) {
    for (const name of [manifestName(id), archiveName(id)]) await deps.store.remove(name).catch(() => undefined);
    throw error;
  }
}

async function writeFromSnapshot(deps: BackupsDeps, id: string, createdAt: Date, sentinelSha256: string): Promise<BackupManifest> {
  const database = deps.config.database;
  const lines = dumpDatabase(deps, database.kind === 'sqlite' ? { openSqliteSnapshot: sqliteSnapshotOpener(database.file, deps.masterKey) } : {});
  try {
    // The first line names the schema (and takes the snapshot); the header records it before the body is written.
    const first = await lines.next();
    if (first.done || first.value.t !== 'schema') throw new Error('the database dump did not begin with its schema');
    await pruneSentinels(deps.db, id);
    const source: BackupSource = { dialect: deps.dialect.name, migration: first.value.migration, node: deps.node, release: deps.release };
    return await writeArchive({
      store: deps.store,
      masterKey: deps.masterKey,
      id,
      createdAt: createdAt.toISOString(),
      source,
      dump: prepend(first.value, lines),
      openBlob: (tenantId, storageId) => deps.fileBlobs.open(tenantId, storageId),
      sentinelSha256,
      now: () => deps.clock.now(),
    });
  } finally {
    // Whatever failed (the store, the master key's wrap), the snapshot closes: a paused dump would
    // hold a pooled connection in its read transaction, or a SQLite read handle that stops the WAL
    // from being checkpointed. After a whole dump this is a no-op.
    await lines.return(undefined).catch(() => undefined);
  }
}

async function* prepend(first: DumpLine, rest: AsyncIterable<DumpLine>): AsyncIterable<DumpLine> {
  yield first;
  yield* rest;
}

/** Rows across the manifest's tables: what `backup.created` reports. */
export const rowsOf = (manifest: BackupManifest) => manifest.tables.reduce((sum, table) => sum + table.rows, 0);

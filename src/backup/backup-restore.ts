import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { BlobStore } from '../files/blob-store.js';
import { openBlobStore } from '../files/open-blob-store.js';
import { syncToDisk } from '../keys/durable-file.js';
import { FileTenantKeyStore } from '../keys/file-tenant-key-store.js';
import type { MasterKey } from '../keys/master-key.js';
import { ensurePrivateDirectory, writePrivateFile } from '../lib/private-path.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readArchive } from './archive-reader.js';
import type { BackupManifest } from './backup-manifest.js';
import { removeTenantRows } from '../tenants/tenant-rows.js';
import { loadDatabase } from './database-load.js';
import type { TableSummary } from './dump-format.js';
import { clearRestoreMarker, writeRestoreMarker } from './restore-marker.js';
import { emptyRestoreTarget, nonEmptyParts, openRestoreTarget, RestoreRefusedError } from './restore-target.js';
import { fetchTenantKeyObject, tombstoneObject } from './tenant-key-objects.js';

export interface RestoreResult {
  id: string;
  manifest: BackupManifest;
  tables: TableSummary[];
  files: number;
  /** Tenants restored with their key, and those whose key was shredded (or is missing) at the target: deleted here. */
  tenants: { restored: number; deleted: string[] };
  /** The whole `.cbk` object as read: its size and sha256 (verify holds them against the `.manifest` object). */
  archive: { bytes: number; sha256: string };
}

/** Where a restore writes: the configured database, blob folder and tenant key directory (a scratch set for verify). */
export interface RestorePlace {
  config: Readonly<Config>;
  masterKey: MasterKey;
  store: ObjectStore;
  now: () => Date;
}

/**
 * Restores backup `id` into the configured place, which must be empty (`force`: emptied first).
 * Database first (migrated, then loaded in one transaction), then the blobs into the blob store
 * (under new names, the rows pointed at them), then the tenants' keys from the target; a tenant
 * tombstoned or missing there is deleted here. Any failure empties the place again: no partial restore.
 */
export async function restoreBackup(place: RestorePlace, id: string, { force = false }: { force?: boolean } = {}): Promise<RestoreResult & { database: Database }> {
  let database: Database | null = await openRestoreTarget(place.config, place.masterKey);
  const found = await nonEmptyParts(place.config, database);
  if (found.length > 0 && !force) {
    await database.close();
    throw new RestoreRefusedError(`the restore target is not empty (${found.join(', ')}): restore into an empty data directory and database, or pass --force to empty it first`);
  }
  // Until it is removed, nothing opens this place as a deployment: a restore killed part-way leaves it.
  writeRestoreMarker(place.config, id, place.now());
  try {
    if (found.length > 0) {
      await emptyRestoreTarget(place.config, database);
      if (place.config.database.kind === 'sqlite') database = await openRestoreTarget(place.config, place.masterKey);
    }
    const result = await restoreInto(place, database, id);
    clearRestoreMarker(place.config);
    return { ...result, database: database };
  } catch (error) {
    // Emptied again, the place is as before the restore: the marker goes (it stays if emptying failed).
    await emptyRestoreTarget(place.config, database)
      .then(() => clearRestoreMarker(place.config))
      .catch(() => undefined);
    if (place.config.database.kind !== 'sqlite') await database?.close();
    throw error;
  }
}

async function restoreInto(place: RestorePlace, database: Database, id: string): Promise<RestoreResult> {
  const blobs: BlobStore = openBlobStore(place.config);
  const renamed: Array<{ tenantId: string; from: string; to: string }> = [];
  let tables: TableSummary[] = [];
  const { manifest, bytes, sha256 } = await readArchive(place.store, place.masterKey, id, {
    dump: async (lines) => {
      tables = await loadDatabase(database, lines);
    },
    blob: async (ref, bytes) => {
      // The blob store reports any failure as its own (a 503 "could not be stored"); an archive that
      // fails to open while a blob streams must be named as what it is.
      let sourceError: unknown;
      const watched = (async function* () {
        try {
          yield* bytes;
        } catch (error) {
          sourceError = error;
          throw error;
        }
      })();
      const stored = await blobs.put(ref.tenantId, Readable.from(watched)).catch((error: unknown) => {
        throw sourceError ?? error;
      });
      renamed.push({ tenantId: ref.tenantId, from: ref.storageId, to: stored });
    },
  });
  checkCounts(id, manifest, tables, renamed.length);
  for (const blob of renamed) {
    await database.db.updateTable('record_files').set({ storage_id: blob.to }).where('tenant_id', '=', blob.tenantId).where('storage_id', '=', blob.from).execute();
  }
  // A file whose blob was gone when the archive reached it was deleted after the snapshot: its row
  // goes too (that deletion committed later, a consistent state), rather than name a blob nowhere.
  for (const blob of manifest.missingBlobs) {
    await database.db.deleteFrom('record_files').where('tenant_id', '=', blob.tenantId).where('storage_id', '=', blob.storageId).execute();
  }
  const tenants = await restoreTenantKeys(place, database);
  await removeDeletedTenants(database, blobs, tenants.deleted);
  return { id, manifest, tables, files: renamed.length, tenants, archive: { bytes, sha256 } };
}

/**
 * A tenant deleted since the backup goes from the restored copy as tenant deletion removes it (its
 * rows, its members' accounts that belong nowhere else, its blobs): what of it is sealed under the
 * system key (the accounts' e-mail addresses, its security events) would otherwise be readable again.
 */
async function removeDeletedTenants(database: Database, blobs: BlobStore, deleted: readonly string[]): Promise<void> {
  for (const tenantId of deleted) {
    await database.db.transaction().execute((trx) => removeTenantRows(trx, tenantId));
    await blobs.removeTenant(tenantId);
  }
}

function checkCounts(id: string, manifest: BackupManifest, tables: TableSummary[], files: number): void {
  const expected = JSON.stringify(manifest.tables);
  if (JSON.stringify(tables) !== expected) throw new Error(`backup ${id}: the tables loaded differ from its manifest’s counts and checksums`);
  if (files !== manifest.files.count) throw new Error(`backup ${id}: ${files} files restored, its manifest says ${manifest.files.count}`);
}

/**
 * Each restored tenant's key file from the target, into CONFIDE_TENANT_KEY_DIR; a tenant whose key
 * object is tombstoned or gone gets a local tombstone, so it answers 410 and its data stays sealed.
 * With the HSM store (pkcs11) the keys stay in the token: a restore needs the same token.
 */
async function restoreTenantKeys(place: RestorePlace, database: Database): Promise<RestoreResult['tenants']> {
  const tenantIds = (await database.db.selectFrom('tenants').select('id').execute()).map((row) => row.id);
  const keyDir = place.config.tenantKeyDir;
  if (place.config.tenantKeyStore !== 'file' || !keyDir) return { restored: tenantIds.length, deleted: [] };
  ensurePrivateDirectory(keyDir, 'tenant key directory');
  const present = new Set((await place.store.list('tenant-keys/')).map((object) => object.name));
  const local = new FileTenantKeyStore(keyDir, place.masterKey);
  const deleted: string[] = [];
  // Only a tenant whose data keys are wrapped under a TKEK needs one: a deployment that ran without a
  // tenant key directory wrapped them under the master key, and a restore into one with it keeps them so.
  const wrappedByTenantKey = new Set((await database.db.selectFrom('key_ring').select('owner').distinct().where('wrapped_by', '=', 'tenant').execute()).map((row) => row.owner));
  for (const tenantId of tenantIds) {
    if (!wrappedByTenantKey.has(tenantId)) {
      if (present.has(tombstoneObject(tenantId))) {
        local.destroy(tenantId, place.now().toISOString());
        deleted.push(tenantId);
      }
      continue;
    }
    const bytes = await fetchTenantKeyObject(place.store, tenantId, present);
    if (bytes) {
      writePrivateFile(join(keyDir, `${tenantId}.kek`), bytes.toString('utf8'), 'wx');
      syncToDisk(join(keyDir, `${tenantId}.kek`));
    } else {
      local.destroy(tenantId, place.now().toISOString());
      deleted.push(tenantId);
    }
  }
  syncToDisk(keyDir);
  return { restored: tenantIds.length - deleted.length, deleted };
}

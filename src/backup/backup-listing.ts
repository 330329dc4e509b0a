import type { MasterKey } from '../keys/master-key.js';
import type { ObjectStore } from '../storage/object-store.js';
import { BACKUP_ID } from './archive-header.js';
import { unwrapBackupKey } from './archive-reader.js';
import { archiveName, manifestName, verifiedName, type BackupManifest, type VerifiedMarker } from './backup-manifest.js';
import { readSealed } from './sealed-object.js';

export interface BackupListing {
  id: string;
  createdAt: string;
  bytes: number;
  tenants: number | null;
  verified: string | null;
  /** Why the manifest could not be read (another master key, damage, another backup's); counts are then null. */
  problem?: string;
}

/** One line, no secret, no stack: what `backup.failed` and the CLI say. */
export const reasonOf = (error: unknown) => ((error as Error | undefined)?.message ?? String(error)).split('\n')[0]!.slice(0, 500);

/** Every backup at the target, oldest first, with its manifest's counts and whether it was verified. */
export async function listBackups(store: ObjectStore, masterKey: MasterKey): Promise<BackupListing[]> {
  const objects = await store.list('backups/');
  const names = new Set(objects.map((object) => object.name));
  const listings: BackupListing[] = [];
  for (const object of objects.filter((o) => o.name.endsWith('.cbk'))) {
    const id = object.name.slice('backups/'.length, -'.cbk'.length);
    if (!BACKUP_ID.test(id)) continue;
    listings.push(await describe(store, masterKey, id, object.bytes, names));
  }
  return listings;
}

/**
 * The newest backup whose manifest opens and names its archive, or null when there is no backup:
 * an archive a failed run left without its manifest is no backup, `restore --latest` must not pick
 * it. When backups are there but none opens, the newest one's problem is thrown.
 */
export async function newestBackup(store: ObjectStore, masterKey: MasterKey): Promise<string | null> {
  const listings = await listBackups(store, masterKey);
  const readable = listings.filter((backup) => !backup.problem).at(-1);
  if (readable) return readable.id;
  // None opens: say why the newest does not (most often another master key), not that there is none.
  const newest = listings.at(-1);
  if (newest) throw new Error(newest.problem);
  return null;
}

/**
 * A backup's listing from its `.manifest` and `.verified` objects, each checked to be this
 * backup's (a copy of another backup's objects under this name opens with that backup's key): the
 * manifest's header and content name this id and this archive's size, the marker names this id and
 * the archive's sha256.
 */
async function describe(store: ObjectStore, masterKey: MasterKey, id: string, bytes: number, names: Set<string>): Promise<BackupListing> {
  const listing: BackupListing = { id, createdAt: '', bytes, tenants: null, verified: null };
  try {
    const sealed = await readSealed(store, manifestName(id));
    if (sealed.header.id !== id) throw new Error(`${manifestName(id)} belongs to backup ${sealed.header.id}`);
    const key = unwrapBackupKey(sealed.header, masterKey);
    const manifest = sealed.open<BackupManifest>(key, 'manifest');
    if (manifest.id !== id) throw new Error(`${manifestName(id)} belongs to backup ${manifest.id}`);
    if (manifest.archive?.bytes !== bytes) throw new Error(`${archiveName(id)} has ${bytes} bytes, its manifest says ${manifest.archive?.bytes ?? 'none'}`);
    listing.createdAt = sealed.header.createdAt;
    listing.tenants = manifest.tenants;
    if (names.has(verifiedName(id))) {
      const marked = await readSealed(store, verifiedName(id));
      const marker = marked.header.id === id ? marked.open<VerifiedMarker>(key, 'verified') : null;
      // Another backup's marker, or one of an archive since replaced, says nothing of this one.
      if (marker?.id === id && marker.archiveSha256 === manifest.archive.sha256) listing.verified = marker.verifiedAt;
    }
  } catch (error) {
    listing.problem = reasonOf(error);
  }
  return listing;
}

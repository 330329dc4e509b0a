import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ObjectStore, StoredObject } from '../storage/object-store.js';

/**
 * Tenants' key-encryption keys at the backup target, kept apart from the archives (which never
 * hold them): `tenant-keys/<tenantId>` is the tenant's key file as it rests in
 * CONFIDE_TENANT_KEY_DIR (already wrapped under the master key), `tenant-keys/<tenantId>.deleted`
 * a tombstone (id and time, no secret). Deleting a tenant removes its key object here too, so every
 * archive, old ones included, loses that tenant at once: crypto-shredding reaches the backups.
 */
const KEY_SUFFIX = '.kek';
const TOMBSTONE_SUFFIX = '.deleted';
export const tenantKeyObject = (tenantId: string) => `tenant-keys/${tenantId}`;
export const tombstoneObject = (tenantId: string) => `tenant-keys/${tenantId}${TOMBSTONE_SUFFIX}`;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/**
 * Brings the target in step with the local tenant key directory: every key file not there yet, or
 * changed since (a master key rotation re-wraps them), is put; every local tombstone is written
 * and its key object removed (a target that was down when the tenant was deleted is cleaned now).
 * Returns how many key objects were written.
 */
export async function syncTenantKeyObjects(store: ObjectStore, keyDir: string): Promise<number> {
  if (!existsSync(keyDir)) return 0;
  const atTarget = new Map((await store.list('tenant-keys/')).map((object) => [object.name, object]));
  const names = new Set(readdirSync(keyDir));
  let written = 0;
  for (const name of names) {
    if (!name.endsWith(TOMBSTONE_SUFFIX)) continue;
    const tenantId = name.slice(0, -TOMBSTONE_SUFFIX.length);
    if (!atTarget.has(tombstoneObject(tenantId))) await store.put(tombstoneObject(tenantId), Readable.from([readFileSync(join(keyDir, name))]));
    if (atTarget.has(tenantKeyObject(tenantId))) await store.remove(tenantKeyObject(tenantId));
  }
  for (const name of names) {
    if (!name.endsWith(KEY_SUFFIX)) continue;
    const tenantId = name.slice(0, -KEY_SUFFIX.length);
    if (names.has(`${tenantId}${TOMBSTONE_SUFFIX}`)) continue;
    const bytes = readKeyFile(join(keyDir, name), atTarget.get(tenantKeyObject(tenantId)));
    if (!bytes) continue;
    await store.put(tenantKeyObject(tenantId), Readable.from([bytes]));
    // The tenant may have been deleted between the read and the put, its object shredded before this
    // put landed: its tombstone is written before its key goes, so it is there now. Shredded stays shredded.
    if (existsSync(join(keyDir, `${tenantId}${TOMBSTONE_SUFFIX}`))) {
      await store.remove(tenantKeyObject(tenantId));
      continue;
    }
    written += 1;
  }
  return written;
}

/** A key file's bytes to put; null when the target's copy is newer than the file, or the file is gone (its tenant deleted since the listing). */
function readKeyFile(file: string, existing: StoredObject | undefined): Buffer | null {
  try {
    // Put after the file was last written: unchanged since (a master key change rewrites it). Saves a read per tenant.
    if (existing && existing.modifiedAt >= statSync(file).mtime) return null;
    return readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A tenant was deleted: its tombstone at the target first, then its key object goes. */
export async function shredTenantKeyObject(store: ObjectStore, tenantId: string, deletedAt: string): Promise<void> {
  await store.put(tombstoneObject(tenantId), Readable.from([Buffer.from(`${JSON.stringify({ tenantId, deletedAt })}\n`)]));
  await store.remove(tenantKeyObject(tenantId));
}

/** The tenant's key file bytes from the target, or null when it is tombstoned or missing there. */
export async function fetchTenantKeyObject(store: ObjectStore, tenantId: string, present: ReadonlySet<string>): Promise<Buffer | null> {
  if (present.has(tombstoneObject(tenantId)) || !present.has(tenantKeyObject(tenantId))) return null;
  return readAll(store.get(tenantKeyObject(tenantId)));
}

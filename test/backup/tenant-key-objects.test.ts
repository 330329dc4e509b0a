import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import { shredTenantKeyObject, syncTenantKeyObjects } from '../../src/backup/tenant-key-objects.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/** Deletes tenant `tenantId` as FileTenantKeyStore.destroy and deleteTenant do: local tombstone, local key gone, then shredded at the target. */
async function deleteTenant(keys: string, store: ObjectStore, tenantId: string): Promise<void> {
  writeFileSync(join(keys, `${tenantId}.deleted`), JSON.stringify({ tenantId, deletedAt: '2026-01-01T00:00:00.000Z' }));
  rmSync(join(keys, `${tenantId}.kek`));
  await shredTenantKeyObject(store, tenantId, '2026-01-01T00:00:00.000Z');
}

/** The store, with `before` run ahead of each put of a key object (once per name). */
function withHook(store: ObjectStore, before: (name: string) => Promise<void>): ObjectStore {
  const seen = new Set<string>();
  return {
    description: store.description,
    list: (prefix) => store.list(prefix),
    get: (name) => store.get(name),
    remove: (name) => store.remove(name),
    put: async (name, source) => {
      if (!seen.has(name) && !name.endsWith('.deleted')) {
        seen.add(name);
        await before(name);
      }
      return store.put(name, source);
    },
  };
}

describe('tenant key objects at the backup target', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'confide-tko-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies new and changed key files, and reconciles a deletion the target missed (it was down then)', async () => {
    const keys = join(dir, 'keys');
    const store = new FolderObjectStore(join(dir, 'target'));
    mkdirSync(keys);
    writeFileSync(join(keys, 'a.kek'), 'key a');
    writeFileSync(join(keys, 'b.kek'), 'key b');
    expect(await syncTenantKeyObjects(store, keys)).toBe(2);
    expect(await syncTenantKeyObjects(store, keys)).toBe(0); // unchanged: not written again
    // b is deleted while the target is unreachable: locally its key goes and a tombstone is written.
    rmSync(join(keys, 'b.kek'));
    writeFileSync(join(keys, 'b.deleted'), '{"tenantId":"b","deletedAt":"2026-01-01T00:00:00.000Z"}');
    // a is re-wrapped (a master key change): a newer file.
    writeFileSync(join(keys, 'a.kek'), 'key a, re-wrapped');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(keys, 'a.kek'), later, later);
    expect(await syncTenantKeyObjects(store, keys)).toBe(1);
    expect((await store.list('tenant-keys/')).map((o) => o.name)).toEqual(['tenant-keys/a', 'tenant-keys/b.deleted']);
  });

  it('a tenant deleted between the read of its key and the put stays shredded at the target', async () => {
    const keys = join(dir, 'keys');
    const inner = new FolderObjectStore(join(dir, 'target'));
    mkdirSync(keys);
    writeFileSync(join(keys, 'a.kek'), 'key a');
    // The deletion lands after the sync read a's key file and before its put: the put would bring the key back.
    const store = withHook(inner, async (name) => {
      if (name === 'tenant-keys/a') await deleteTenant(keys, inner, 'a');
    });
    expect(await syncTenantKeyObjects(store, keys)).toBe(0);
    expect((await inner.list('tenant-keys/')).map((o) => o.name)).toEqual(['tenant-keys/a.deleted']);
  });

  it('a tenant deleted after the listing of the key folder is skipped, not a failed backup', async () => {
    const keys = join(dir, 'keys');
    const inner = new FolderObjectStore(join(dir, 'target'));
    mkdirSync(keys);
    writeFileSync(join(keys, 'a.kek'), 'key a');
    writeFileSync(join(keys, 'b.kek'), 'key b');
    // Whichever key is put first, the other tenant is deleted then: its file is gone when its turn comes (or was put and is shredded).
    const store = withHook(inner, async (name) => {
      const other = name === 'tenant-keys/a' ? 'b' : 'a';
      if (name.endsWith('/a') || name.endsWith('/b')) {
        if (readdirSync(keys).includes(`${other}.kek`)) await deleteTenant(keys, inner, other);
      }
    });
    expect(await syncTenantKeyObjects(store, keys)).toBe(1);
    const left = (await inner.list('tenant-keys/')).map((o) => o.name);
    expect(left).toHaveLength(2);
    expect(left.filter((n) => n.endsWith('.deleted'))).toHaveLength(1);
    expect(left).not.toContain(`${left.find((n) => n.endsWith('.deleted'))!.slice(0, -'.deleted'.length)}`);
  });
});

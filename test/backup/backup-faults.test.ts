import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backups } from '../../src/backup/backups.js';
import type { BackupsDeps } from '../../src/backup/backups-deps.js';
import { restoreBackup } from '../../src/backup/backup-restore.js';
import { removeStaleScratch, scratchConfig } from '../../src/backup/backup-verify.js';
import { PostgresSnapshotReader } from '../../src/backup/postgres-snapshot.js';
import { RESTORE_MARKER_FILE } from '../../src/backup/restore-marker.js';
import { SqliteSnapshotReader } from '../../src/backup/sqlite-snapshot.js';
import { loadConfig } from '../../src/config/load-config.js';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { buildRecord, buildTenant, signIn } from '../harness/builders.js';
import { DIALECTS, type TestDialect } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { backupPlaces } from '../harness/backup-places.js';

const { apps, tempDir, place } = backupPlaces();
afterEach(() => {
  vi.restoreAllMocks();
});

async function source(dialect: TestDialect) {
  const target = tempDir('confide-target-');
  const masterKey = randomBytes(32).toString('base64');
  const env = await place(dialect, target, masterKey);
  const t = await createTestApp(dialect, { env, smtp: true });
  apps.push(t);
  return { t, target, masterKey, backups: t.app.services.backups! };
}

/** A Backups service on the app's services with some parts replaced (a store, blobs, events). */
function backupsWith(t: TestApp, parts: Partial<BackupsDeps>): Backups {
  return new Backups({ ...t.app.services, store: new FolderObjectStore(t.app.services.config.backup.target!), node: 'test', release: '0.0.0', ...parts });
}

/** The store, with `put` of names matching `fails` rejecting at once, without reading its source (as a store that cannot reach its target does). */
function failingPuts(store: ObjectStore, fails: RegExp): ObjectStore {
  return {
    description: store.description,
    list: (prefix) => store.list(prefix),
    get: (name) => store.get(name),
    remove: (name) => store.remove(name),
    put: (name, data) => (fails.test(name) ? Promise.reject(new Error(`cannot write ${name}`)) : store.put(name, data)),
  };
}

async function restoreInto(env: Record<string, string>, id: string, store?: ObjectStore) {
  const config = loadConfig(env, '/');
  const masterKey = inMemoryMasterKey('env', Buffer.from(env.CONFIDE_MASTER_KEY!, 'base64'), 'master key from CONFIDE_MASTER_KEY');
  return restoreBackup({ config, masterKey, store: store ?? new FolderObjectStore(config.backup.target!), now: () => new Date() }, id);
}

/** The database, where an insert into `table` runs `after` once it has executed (whatever builder calls come between). */
function pausedAfterInsert(db: BackupsDeps['db'], table: string, after: () => Promise<void>): BackupsDeps['db'] {
  const wrap = (builder: object): object =>
    new Proxy(builder, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'execute') return async (...args: unknown[]) => ((await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)), await after());
        return (...args: unknown[]) => {
          const next = (value as (...a: unknown[]) => unknown).apply(target, args);
          return next && typeof next === 'object' && !(next instanceof Promise) ? wrap(next) : next;
        };
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'insertInto') return (name: string) => (name === table ? wrap(target.insertInto(name as never)) : target.insertInto(name as never));
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const snapshotClass = (dialect: TestDialect) => (dialect === 'postgres' ? PostgresSnapshotReader : SqliteSnapshotReader);

describe.each(DIALECTS)('backup faults on %s', (dialect) => {
  it('a failed archive put, or a master key that fails to wrap, closes the snapshot and leaves no archive', { timeout: 120_000 }, async () => {
    const { t, target } = await source(dialect);
    const tenant = await buildTenant(t);
    // More than the streams between the dump and the store buffer: the dump pauses part-way.
    for (let i = 0; i < 60; i += 1) await buildRecord(t, tenant, 'patients', { note: randomBytes(2000).toString('hex') });
    const close = vi.spyOn(snapshotClass(dialect).prototype, 'close');
    const broken = backupsWith(t, { store: failingPuts(new FolderObjectStore(target), /\.cbk$/) });
    await expect(broken.create({ actor: 'host:test' })).rejects.toThrow(/cannot write backups\/.*\.cbk/);
    expect(close).toHaveBeenCalledTimes(1);

    const wrap = vi.spyOn(t.app.services.masterKey, 'wrap').mockImplementationOnce(() => {
      throw new Error('the HSM went away');
    });
    await expect(t.app.services.backups!.create({ actor: 'host:test' })).rejects.toThrow('the HSM went away');
    expect(wrap).toHaveBeenCalled();
    expect(close).toHaveBeenCalledTimes(2);
    expect(existsSync(join(target, 'backups')) ? readdirSync(join(target, 'backups')) : []).toEqual([]);
  });

  it('a failed manifest put removes the archive too, and newest() never names an archive without its manifest', { timeout: 120_000 }, async () => {
    const { t, target, backups } = await source(dialect);
    await buildTenant(t);
    // A temporary file a writer that died left (a wrapped tenant key in it): the next backup sweeps it.
    const stale = join(target, 'tenant-keys', 'dead.0123456789ab.partial');
    mkdirSync(join(target, 'tenant-keys'), { recursive: true });
    writeFileSync(stale, 'half a key');
    utimesSync(stale, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
    const good = (await backups.create({ actor: 'host:test' })).id;
    expect(existsSync(stale)).toBe(false);
    t.clock.advance(60);
    const broken = backupsWith(t, { store: failingPuts(new FolderObjectStore(target), /\.manifest$/) });
    await expect(broken.create({ actor: 'host:test' })).rejects.toThrow(/cannot write backups\/.*\.manifest/);
    expect(readdirSync(join(target, 'backups')).filter((n) => !n.startsWith(good))).toEqual([]);
    // An archive alone (a run killed between its two puts): not the newest backup.
    t.clock.advance(60);
    const orphan = (await backups.create({ actor: 'host:test' })).id;
    rmSync(join(target, 'backups', `${orphan}.manifest`));
    expect(await backups.newest()).toBe(good);
  });

  it('a verification that cannot finish records backup.verificationFailed', { timeout: 120_000 }, async () => {
    const { t, target, backups } = await source(dialect);
    await buildTenant(t);
    const { id } = await backups.create({ actor: 'host:test' });
    const events: Array<{ type: string; details?: unknown }> = [];
    const securityEvents = { ...t.app.services.securityEvents, record: (event: { type: string; details?: unknown }) => void events.push(event) } as unknown as BackupsDeps['securityEvents'];
    const broken = backupsWith(t, { store: failingPuts(new FolderObjectStore(target), /\.verified$/), securityEvents });
    const result = await broken.verify(id, { actor: 'host:test' });
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([`verification: cannot write backups/${id}.verified`]);
    expect(events).toEqual([expect.objectContaining({ type: 'backup.verificationFailed', details: { id, problems: result.problems } })]);
  });

  it('a file deleted while the backup ran: its row is not restored, and the backup verifies', { timeout: 120_000 }, async () => {
    const { t, target, masterKey } = await source(dialect);
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const upload = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/scan.pdf`, token: tenant.token, payload: randomBytes(2000), headers: { 'content-type': 'application/pdf' } });
    expect(upload.statusCode, upload.body).toBe(201);
    // The blob is gone by the time the archive reaches it (its deletion committed after the snapshot).
    const gone = Object.assign(new Error('no such blob'), { code: 'ENOENT' });
    const fileBlobs = { ...t.app.services.fileBlobs, open: () => new Readable({ read() { this.destroy(gone); } }) } as unknown as BackupsDeps['fileBlobs'];
    const backups = backupsWith(t, { fileBlobs });
    const { id, manifest } = await backups.create({ actor: 'host:test' });
    expect(manifest.missingBlobs).toHaveLength(1);
    const verified = await backups.verify(id, { actor: 'host:test' });
    expect(verified.problems).toEqual([]);
    const restored = await restoreInto(await place(dialect, target, masterKey), id);
    try {
      expect(await restored.database.db.selectFrom('record_files').selectAll().execute()).toEqual([]);
    } finally {
      await restored.database.close();
    }
  });

  it('two backups at once each keep their own sentinel and both verify', { timeout: 180_000 }, async () => {
    const { t, backups } = await source(dialect);
    await buildTenant(t);
    // Run A writes its sentinel, then waits (before its snapshot) while run B makes a whole backup.
    let written!: () => void;
    let release!: () => void;
    const sentinelWritten = new Promise<void>((resolve) => (written = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    const db = pausedAfterInsert(t.app.services.db, 'system_meta', async () => {
      written();
      await gate;
    });
    const a = backupsWith(t, { db }).create({ actor: 'system' });
    await sentinelWritten;
    const b = await backups.create({ actor: 'host:test' });
    release();
    for (const { id } of [await a, b]) expect((await backups.verify(id, { actor: 'system' })).problems).toEqual([]);
  });

  it('list and prune trust no .manifest or .verified object of another backup', { timeout: 180_000 }, async () => {
    const { t, target, backups } = await source(dialect);
    await buildTenant(t);
    const good = (await backups.create({ actor: 'system' })).id;
    expect((await backups.verify(good, { actor: 'system' })).ok).toBe(true);
    t.clock.advance(3600);
    const other = (await backups.create({ actor: 'system' })).id;
    const dir = join(target, 'backups');
    // The other backup's archive is damaged, and the good one's manifest and marker copied under its names.
    writeFileSync(join(dir, `${other}.cbk`), randomBytes(5000));
    copyFileSync(join(dir, `${good}.manifest`), join(dir, `${other}.manifest`));
    copyFileSync(join(dir, `${good}.verified`), join(dir, `${other}.verified`));
    const listed = await backups.list();
    expect(listed.map((b) => [b.id, Boolean(b.verified)])).toEqual([
      [good, true],
      [other, false],
    ]);
    expect(listed[1]!.problem).toBe(`backups/${other}.manifest belongs to backup ${good}`);
    t.clock.advance(7200);
    expect(await backups.prune(3600, t.clock.now())).toEqual([other]);
    expect((await backups.list()).map((b) => b.id)).toEqual([good]);
  });

  it('a restore removes what a tenant deleted since the backup left under the system key: its accounts and events', { timeout: 180_000 }, async () => {
    const { t, target, masterKey, backups } = await source(dialect);
    const kept = await buildTenant(t);
    const gone = await buildTenant(t);
    await buildRecord(t, gone, 'patients', { note: 'x' });
    const { id } = await backups.create({ actor: 'host:test' });
    const owner = await signIn(t, gone.email, gone.password);
    expect((await t.request({ method: 'DELETE', url: '/v1/tenant', token: owner.token, payload: { confirm: gone.tenantId } })).statusCode).toBe(204);
    const restored = await restoreInto(await place(dialect, target, masterKey), id);
    try {
      expect(restored.tenants.deleted).toEqual([gone.tenantId]);
      const db = restored.database.db;
      const count = async (table: string, column: string, value: string) => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} = ${value}`.execute(db)).rows[0]!.n);
      expect(await count('security_events', 'tenant_id', gone.tenantId)).toBe(0);
      expect(await count('records', 'tenant_id', gone.tenantId)).toBe(0);
      expect(await count('tenants', 'id', gone.tenantId)).toBe(0);
      expect(await count('users', 'id', gone.userId)).toBe(0);
      expect(await count('tenants', 'id', kept.tenantId)).toBe(1);
      expect(await count('users', 'id', kept.userId)).toBe(1);
    } finally {
      await restored.database.close();
    }
  });

  it('a restore marks the place while it runs; a deployment refuses to start on a restore that did not finish', { timeout: 120_000 }, async () => {
    const { t, target, masterKey, backups } = await source(dialect);
    await buildTenant(t);
    const { id } = await backups.create({ actor: 'host:test' });
    const env = await place(dialect, target, masterKey);
    const marker = join(env.CONFIDE_DATA_DIR, RESTORE_MARKER_FILE);
    const inner = new FolderObjectStore(target);
    const seen: boolean[] = [];
    const watching: ObjectStore = { ...failingPuts(inner, /^$/), get: (name) => (seen.push(existsSync(marker)), inner.get(name)) };
    const restored = await restoreInto(env, id, watching);
    await restored.database.close();
    expect(seen.some(Boolean)).toBe(true);
    expect(existsSync(marker)).toBe(false);
    // As a restore killed part-way leaves it.
    writeFileSync(marker, JSON.stringify({ id, startedAt: new Date().toISOString() }));
    await expect(createTestApp(dialect, { env })).rejects.toThrow(`a restore of backup ${id} into ${env.CONFIDE_DATA_DIR} did not finish`);
  });
});

describe('verification scratch places', () => {
  it('removes scratch folders a dead process left (over an hour old), not a live one', () => {
    const dataDir = tempDir('confide-data-');
    const old = join(dataDir, 'backup-verify-0123456789ab');
    const live = join(dataDir, 'backup-verify-ba9876543210');
    for (const dir of [old, live]) {
      mkdirSync(join(dir, 'tenant-keys'), { recursive: true });
      writeFileSync(join(dir, 'confide.db'), 'x');
    }
    const twoHoursAgo = new Date(Date.now() - 7200_000);
    for (const path of [join(old, 'tenant-keys'), join(old, 'confide.db'), old]) utimesSync(path, twoHoursAgo, twoHoursAgo);
    expect(removeStaleScratch(dataDir, Date.now() - 3600_000)).toEqual(['backup-verify-0123456789ab']);
    expect(readdirSync(dataDir)).toEqual(['backup-verify-ba9876543210']);
  });

  it('never points at the live tenant key folder, whatever the tenant key store', () => {
    const config = loadConfig({ CONFIDE_DATA_DIR: '/srv/confide', CONFIDE_TENANT_KEY_DIR: '/srv/keys', CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') }, '/');
    expect(scratchConfig(config, '/srv/confide/backup-verify-x').tenantKeyDir).toBe('/srv/confide/backup-verify-x/tenant-keys');
    expect(scratchConfig({ ...config, tenantKeyStore: 'pkcs11' }, '/srv/confide/backup-verify-x').tenantKeyDir).toBeNull();
  });
});

import Database from 'better-sqlite3-multiple-ciphers';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrationProvider } from '../db/migrations/index.js';
import type { DB } from '../db/schema.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { newId } from '../lib/ids.js';
import { systemClock } from '../lib/time.js';
import { parseEnvelope } from './envelope-format.js';
import { KeyRing, SYSTEM_OWNER } from './key-ring.js';
import { wrapKey } from './key-wrapping.js';
import { inMemoryMasterKey } from './master-key.js';

const at = { table: 't', rowId: 'r', field: 'f' };

/** A fresh in-memory SQLite database with every migration applied. */
async function migratedMemoryDatabase(): Promise<Kysely<DB>> {
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
  return db;
}

describe('key ring cipher cache', () => {
  let db: Kysely<DB>;
  const masterKey = inMemoryMasterKey('env', newAes256Key(), 'test master key');

  beforeEach(async () => {
    db = await migratedMemoryDatabase();
  });
  afterEach(() => db.destroy());

  /** What a rotation will do: add the owner's next data key version, wrapped under the master key. */
  async function addDataKey(owner: string, version: number): Promise<void> {
    await db
      .insertInto('key_ring')
      .values({
        id: newId(),
        owner,
        purpose: 'data',
        version,
        algorithm: 'A256GCM',
        wrapped_key: wrapKey(masterKey, { owner, purpose: 'data', version }, newAes256Key()),
        master_key_id: 'test',
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  const sealingVersion = (sealed: string) => parseEnvelope(sealed).keyVersion;

  it('keeps serving the cached cipher until forget(owner), then seals with the newest key (SECURITY-CRITERIA 11.1.2 key lifecycle)', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    const first = await ring.createOwnerKey(db, 'tenant-a');
    const older = first.encrypt('old', at);
    await addDataKey('tenant-a', 2);

    expect(sealingVersion((await ring.cipherFor('tenant-a')).encrypt('x', at))).toBe(1); // the cache
    await ring.forget('tenant-a');
    const fresh = await ring.cipherFor('tenant-a');
    expect(sealingVersion(fresh.encrypt('x', at))).toBe(2);
    expect(fresh.decrypt(older, at)).toBe('old');
  });

  it('forgetAll() drops every owner and reloads the system cipher that systemCipher() answers with', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    await ring.createOwnerKey(db, 'tenant-a');
    await addDataKey('tenant-a', 2);
    await addDataKey(SYSTEM_OWNER, 2);
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(1);

    await ring.forgetAll();
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(2);
    expect(sealingVersion((await ring.cipherFor(SYSTEM_OWNER)).encrypt('x', at))).toBe(2);
    expect(sealingVersion((await ring.cipherFor('tenant-a')).encrypt('x', at))).toBe(2);
  });

  it('forget(system) reloads the system cipher at once', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    await addDataKey(SYSTEM_OWNER, 2);
    await ring.forget(SYSTEM_OWNER);
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(2);
  });
});

describe('key versions: rotate, retire, destroy, re-wrap (issue 11)', () => {
  let db: Kysely<DB>;
  const masterKey = inMemoryMasterKey('env', newAes256Key(), 'test master key');

  beforeEach(async () => {
    db = await migratedMemoryDatabase();
  });
  afterEach(() => db.destroy());

  it('rotate() makes the next version the one that seals, retires the one before, and old values still open', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    const first = await ring.createOwnerKey(db, 'tenant-a');
    const old = first.encrypt('old', at);
    expect(await ring.rotate('tenant-a')).toBe(2);
    const cipher = await ring.cipherFor('tenant-a');
    expect(parseEnvelope(cipher.encrypt('new', at)).keyVersion).toBe(2);
    expect(cipher.decrypt(old, at)).toBe('old');
    expect((await ring.versionsOf('tenant-a')).map((v) => [v.version, v.state])).toEqual([
      [1, 'retired'],
      [2, 'active'],
    ]);
  });

  it('destroyVersion() erases a retired version for good and refuses the active one', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    const first = await ring.createOwnerKey(db, 'tenant-a');
    const old = first.encrypt('old', at);
    await ring.rotate('tenant-a');
    expect(await ring.destroyVersion('tenant-a', 2)).toBe(false); // active
    expect(await ring.destroyVersion('tenant-a', 1)).toBe(true);
    const row = await db.selectFrom('key_ring').select(['wrapped_key', 'state', 'destroyed_at']).where('owner', '=', 'tenant-a').where('version', '=', 1).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ wrapped_key: '', state: 'destroyed' });
    expect(row.destroyed_at).not.toBeNull();
    const cipher = await ring.cipherFor('tenant-a');
    expect(() => cipher.decrypt(old, at)).toThrow(/key version 1/);
  });

  it('rewrapUnder() wraps every live key under the next master key: the old one is no longer needed', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    const sealed = (await ring.createOwnerKey(db, 'tenant-a')).encrypt('kept', at);
    const index = await ring.blindIndexKey();
    const next = inMemoryMasterKey('env', newAes256Key(), 'next master key');
    await db.transaction().execute((trx) => ring.rewrapUnder(trx, next));

    const reopened = new KeyRing(db, next, systemClock);
    await reopened.open();
    expect((await reopened.cipherFor('tenant-a')).decrypt(sealed, at)).toBe('kept');
    expect((await reopened.blindIndexKey()).equals(index)).toBe(true);
    const ids = await db.selectFrom('key_ring').select('master_key_id').distinct().execute();
    expect(ids).toEqual([{ master_key_id: next.id }]);
    await expect(new KeyRing(db, masterKey, systemClock).open()).rejects.toThrow(/does not match/);
  });
});

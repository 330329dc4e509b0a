import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DB } from '../db/schema.js';
import { migratedMemoryDatabase } from '../../test/harness/memory-database.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { newId } from '../lib/ids.js';
import { systemClock } from '../lib/time.js';
import { parseEnvelope } from './envelope-format.js';
import { UnknownKeyVersionError } from './cipher.js';
import { KeyRing, MasterKeyMismatchError, SYSTEM_OWNER } from './key-ring.js';
import { wrapKey } from './key-wrapping.js';
import { inMemoryMasterKey } from './master-key.js';

const at = { table: 't', rowId: 'r', field: 'f' };

describe('key ring cipher cache', () => {
  let db: Kysely<DB>;
  const masterKey = inMemoryMasterKey('env', newAes256Key(), 'test master key');

  beforeEach(async () => {
    db = await migratedMemoryDatabase();
  });
  afterEach(() => db.destroy());

  /** A version of an owner's data key added by hand, as an older release (or a bug) could leave it: no `next` made ahead. */
  async function addDataKey(owner: string, version: number, state: 'active' | 'next' = 'active'): Promise<void> {
    await db
      .insertInto('key_ring')
      .values({
        id: newId(),
        owner,
        purpose: 'data',
        version,
        algorithm: 'A256GCM',
        state,
        wrapped_key: wrapKey(masterKey, { owner, purpose: 'data', version }, newAes256Key()),
        master_key_id: 'test',
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  const sealingVersion = (sealed: string) => parseEnvelope(sealed).keyVersion;

  it('keeps serving the cached cipher until forget(owner), then seals with the version another node made active (SECURITY-CRITERIA 11.1.2 key lifecycle)', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    const first = await ring.createOwnerKey(db, 'tenant-a');
    const older = first.encrypt('old', at);
    const otherNode = new KeyRing(db, masterKey, systemClock);
    await otherNode.open();
    expect(await otherNode.rotate('tenant-a')).toBe(2);

    expect(sealingVersion((await ring.cipherFor('tenant-a')).encrypt('x', at))).toBe(1); // the cache
    await ring.forget('tenant-a');
    const fresh = await ring.cipherFor('tenant-a');
    expect(sealingVersion(fresh.encrypt('x', at))).toBe(2);
    expect(fresh.decrypt(older, at)).toBe('old');
  });

  it('a node that has not yet seen a rotation opens what the rotating node sealed under the new version (it was made ahead)', async () => {
    const stale = new KeyRing(db, masterKey, systemClock);
    await stale.open();
    await stale.createOwnerKey(db, 'tenant-a');
    const cached = await stale.cipherFor('tenant-a');
    const rotating = new KeyRing(db, masterKey, systemClock);
    await rotating.open();
    await rotating.rotate('tenant-a');
    await rotating.rotate(SYSTEM_OWNER);
    const sealed = (await rotating.cipherFor('tenant-a')).encrypt('written after the rotation', at);
    const systemSealed = rotating.systemCipher().encrypt('an e-mail address', at);
    expect(sealingVersion(sealed)).toBe(2);

    expect(await stale.cipherFor('tenant-a')).toBe(cached); // it has not reloaded anything
    expect(cached.decrypt(sealed, at)).toBe('written after the rotation');
    expect(stale.systemCipher().decrypt(systemSealed, at)).toBe('an e-mail address');
  });

  it('a value under a version newer than any it holds (two rotations within a poll) fails once, then the keys are read again', async () => {
    const stale = new KeyRing(db, masterKey, systemClock);
    await stale.open();
    await stale.createOwnerKey(db, 'tenant-a');
    const cached = await stale.cipherFor('tenant-a');
    const rotating = new KeyRing(db, masterKey, systemClock);
    await rotating.open();
    await rotating.rotate('tenant-a');
    await rotating.rotate('tenant-a');
    const sealed = (await rotating.cipherFor('tenant-a')).encrypt('v3', at);
    expect(sealingVersion(sealed)).toBe(3);

    expect(() => cached.decrypt(sealed, at)).toThrow(UnknownKeyVersionError);
    const reloaded = await stale.cipherFor('tenant-a');
    expect(reloaded).not.toBe(cached);
    expect(reloaded.decrypt(sealed, at)).toBe('v3');
  });

  it('forgetAll() drops every owner and reloads the system cipher that systemCipher() answers with', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    await ring.createOwnerKey(db, 'tenant-a');
    const otherNode = new KeyRing(db, masterKey, systemClock);
    await otherNode.open();
    await otherNode.rotate('tenant-a');
    await otherNode.rotate(SYSTEM_OWNER);
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(1);

    await ring.forgetAll();
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(2);
    expect(sealingVersion((await ring.cipherFor(SYSTEM_OWNER)).encrypt('x', at))).toBe(2);
    expect(sealingVersion((await ring.cipherFor('tenant-a')).encrypt('x', at))).toBe(2);
  });

  it('forget(system) reloads the system cipher at once', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    await new KeyRing(db, masterKey, systemClock).rotate(SYSTEM_OWNER);
    await ring.forget(SYSTEM_OWNER);
    expect(sealingVersion(ring.systemCipher().encrypt('x', at))).toBe(2);
  });

  it('gives an owner from before versions were made ahead its next version, which seals nothing until the rotation', async () => {
    const ring = new KeyRing(db, masterKey, systemClock);
    await ring.open();
    await addDataKey('tenant-old', 1);
    expect(await ring.ownersWithoutNext(10)).toEqual(['tenant-old']);
    expect(await ring.ensureNext('tenant-old')).toBe(true);
    expect(await ring.ensureNext('tenant-old')).toBe(false);
    expect(await ring.ownersWithoutNext(10)).toEqual([]);
    expect(sealingVersion((await ring.cipherFor('tenant-old')).encrypt('x', at))).toBe(1);
    expect((await ring.versionsOf('tenant-old')).map((v) => [v.version, v.state])).toEqual([
      [1, 'active'],
      [2, 'next'],
    ]);
    expect(await ring.rotate('tenant-old')).toBe(2);
    expect(sealingVersion((await ring.cipherFor('tenant-old')).encrypt('x', at))).toBe(2);
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
      [3, 'next'],
    ]);
  });

  it('a node still on the old master key adds no key once the master key changed (it would be wrapped under a key about to go)', async () => {
    const running = new KeyRing(db, masterKey, systemClock);
    await running.open();
    await running.createOwnerKey(db, 'tenant-a');
    const next = inMemoryMasterKey('env', newAes256Key(), 'next master key');
    await db.transaction().execute((trx) => new KeyRing(db, masterKey, systemClock).rewrapUnder(trx, next));

    await expect(db.transaction().execute((trx) => running.createOwnerKey(trx, 'tenant-b'))).rejects.toThrow(MasterKeyMismatchError);
    await expect(running.rotate('tenant-a')).rejects.toThrow(MasterKeyMismatchError);
    const wrappedByOld = await db.selectFrom('key_ring').select('id').where('master_key_id', '<>', next.id).execute();
    expect(wrappedByOld).toEqual([]);
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

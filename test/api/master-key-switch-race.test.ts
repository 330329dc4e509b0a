import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { newAes256Key } from '../../src/lib/aes-gcm.js';
import { KeyRing, MasterKeyMismatchError } from '../../src/keys/key-ring.js';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { wrapKey } from '../../src/keys/key-wrapping.js';

/**
 * `confide keys rotate-master` on PostgreSQL while a node still runs on the old master key: a key
 * that node adds is either in the switch's re-wrap (it committed first) or refused (it came after),
 * never left wrapped under the key the operator is about to remove.
 */
// PostgreSQL only: on SQLite one connection runs the two transactions one after the other, so there is no race to lose.
describe.skipIf(!DIALECTS.includes('postgres'))('a master key switch racing a running node on PostgreSQL', () => {
  const dialect = 'postgres' as const;
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  const next = inMemoryMasterKey('env', newAes256Key(), 'next master key');
  const keysNotUnder = (id: string) => t.app.services.db.selectFrom('key_ring').select(['owner', 'version']).where('master_key_id', '<>', id).where('state', '<>', 'destroyed').execute();

  it('a key added in a transaction still open when the switch begins is re-wrapped with the rest', async () => {
    const { db, keyRing, masterKey } = t.app.services;
    let added!: () => void;
    let release!: () => void;
    const addedNow = new Promise<void>((resolve) => (added = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const node = db.transaction().execute(async (trx) => {
      await keyRing.createOwnerKey(trx, 'tenant-racing');
      added();
      await released;
    });
    await addedNow;
    const switching = db.transaction().execute((trx) => new KeyRing(db, masterKey, t.app.services.clock).rewrapUnder(trx, next));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the switch is waiting for the node's transaction
    release();
    await node;
    await switching;
    expect(await keysNotUnder(next.id)).toEqual([]);
    const reopened = new KeyRing(db, next, t.app.services.clock);
    await reopened.open();
    const cipher = await reopened.cipherFor('tenant-racing');
    expect(cipher.decrypt(cipher.encrypt('x', { table: 't', rowId: 'r', field: 'f' }), { table: 't', rowId: 'r', field: 'f' })).toBe('x');
  });

  it('a key a node adds while the switch is under way is refused, and nothing is left under the old master key', async () => {
    const { db, keyRing, masterKey } = t.app.services;
    let recorded!: () => void;
    let release!: () => void;
    const recordedNow = new Promise<void>((resolve) => (recorded = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const switching = db.transaction().execute(async (trx) => {
      await new KeyRing(db, masterKey, t.app.services.clock).rewrapUnder(trx, next);
      recorded();
      await released;
    });
    await recordedNow;
    const node = db.transaction().execute((trx) => keyRing.createOwnerKey(trx, 'tenant-late')).then(
      () => 'added',
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await switching;
    expect(await node).toBeInstanceOf(MasterKeyMismatchError);
    expect(await keysNotUnder(next.id)).toEqual([]);
  });

  it('a rotation whose transaction is open when the switch begins ends without a deadlock, and is re-wrapped with the rest', async () => {
    const { db, keyRing, masterKey, clock } = t.app.services;
    await db.transaction().execute((trx) => keyRing.createOwnerKey(trx, 'tenant-rotating'));
    let rotated!: () => void;
    let release!: () => void;
    const rotatedNow = new Promise<void>((resolve) => (rotated = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const rotation = db.transaction().execute(async (trx) => {
      await keyRing.rotate('tenant-rotating', trx);
      rotated();
      await released;
    });
    await rotatedNow;
    const switching = db.transaction().execute((trx) => new KeyRing(db, masterKey, clock).rewrapUnder(trx, next));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await rotation;
    await switching;
    expect(await keysNotUnder(next.id)).toEqual([]);
  });

  it('a rotation or a next version a node starts while the switch is under way waits for it, is refused, and adds nothing', async () => {
    const { db, keyRing, masterKey, clock } = t.app.services;
    await db.transaction().execute((trx) => keyRing.createOwnerKey(trx, 'tenant-waiting'));
    // An owner from before versions were made ahead: v1 only, no next.
    const legacy = { owner: 'tenant-legacy', purpose: 'data' as const, version: 1 };
    await db
      .insertInto('key_ring')
      .values({ id: 'legacy-v1', ...legacy, algorithm: 'A256GCM', state: 'active', wrapped_key: wrapKey(masterKey, legacy, newAes256Key()), master_key_id: masterKey.id, created_at: clock.now().toISOString() })
      .execute();
    let recorded!: () => void;
    let release!: () => void;
    const recordedNow = new Promise<void>((resolve) => (recorded = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const switching = db.transaction().execute(async (trx) => {
      await new KeyRing(db, masterKey, clock).rewrapUnder(trx, next);
      recorded();
      await released;
    });
    await recordedNow;
    const outcome = (work: Promise<unknown>) => work.then(() => 'done', (error: unknown) => error);
    const rotation = outcome(keyRing.rotate('tenant-waiting'));
    const nextVersion = outcome(keyRing.ensureNext('tenant-legacy'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await switching;
    expect(await rotation).toBeInstanceOf(MasterKeyMismatchError);
    expect(await nextVersion).toBeInstanceOf(MasterKeyMismatchError);
    expect(await keysNotUnder(next.id)).toEqual([]);
    expect((await keyRing.versionsOf('tenant-legacy')).map((v) => v.state)).toEqual(['active']);
  });
});

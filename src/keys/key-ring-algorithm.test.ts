import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DB } from '../db/schema.js';
import { migratedMemoryDatabase } from '../../test/harness/memory-database.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { systemClock } from '../lib/time.js';
import { algorithmNamed } from './algorithms.js';
import { envelopeHeader } from './envelope-format.js';
import { KeyRing, SYSTEM_OWNER } from './key-ring.js';
import { inMemoryMasterKey } from './master-key.js';

const at = { table: 't', rowId: 'r', field: 'f' };

/** The key ring seals with the primary algorithm it is given (CONFIDE_DATA_CIPHER) and opens both. */
describe('key ring and the primary algorithm', () => {
  let db: Kysely<DB>;
  const masterKey = inMemoryMasterKey('env', newAes256Key(), 'test master key');

  beforeEach(async () => {
    db = await migratedMemoryDatabase();
  });
  afterEach(() => db.destroy());

  it('seals every owner’s values, the system’s too, with the primary; after a switch and a rotation only the new version under the new algorithm is current', async () => {
    const aesRing = new KeyRing(db, masterKey, systemClock, algorithmNamed('A256GCM'));
    await aesRing.open();
    const underAes = (await aesRing.createOwnerKey(db, 'tenant-a')).encrypt('before', at);
    expect(underAes.startsWith(envelopeHeader('A256GCM', 1))).toBe(true);

    // The same database and master key, started again with ChaCha20-Poly1305 as the primary.
    const chachaRing = new KeyRing(db, masterKey, systemClock, algorithmNamed('C20P1305'));
    await chachaRing.open();
    expect(chachaRing.systemCipher().encrypt('x', at).startsWith(envelopeHeader('C20P1305', 1))).toBe(true);
    expect((await chachaRing.createOwnerKey(db, 'tenant-b')).encrypt('x', at).startsWith(envelopeHeader('C20P1305', 1))).toBe(true);
    const switched = await chachaRing.cipherFor('tenant-a');
    const sameVersion = switched.encrypt('switched', at);
    expect(sameVersion.startsWith(envelopeHeader('C20P1305', 1))).toBe(true);
    expect(switched.decrypt(underAes, at)).toBe('before');
    expect([switched.isCurrent(underAes), switched.isCurrent(sameVersion)]).toEqual([false, true]);

    await chachaRing.rotate('tenant-a');
    const rotated = await chachaRing.cipherFor('tenant-a');
    const fresh = rotated.encrypt('after', at);
    expect(fresh.startsWith(envelopeHeader('C20P1305', 2))).toBe(true);
    expect([underAes, sameVersion, fresh].map((value) => rotated.isCurrent(value))).toEqual([false, false, true]);
    expect([underAes, sameVersion, fresh].map((value) => rotated.decrypt(value, at))).toEqual(['before', 'switched', 'after']);
    expect((await aesRing.cipherFor(SYSTEM_OWNER)).encrypt('x', at).startsWith(envelopeHeader('A256GCM', 1))).toBe(true);
  });
});

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

const at = { table: 't', rowId: 'r', field: 'f' };

describe('key ring cipher cache', () => {
  let db: Kysely<DB>;
  const masterKey = newAes256Key();

  beforeEach(async () => {
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
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

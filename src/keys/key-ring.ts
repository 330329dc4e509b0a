import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import { DEFAULT_DATA_ALGORITHM, type DataAlgorithm } from './algorithms.js';
import { createCipher, type Cipher } from './cipher.js';
import { unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';
import type { MasterKey } from './master-key.js';
import { DataKeyWrapping } from './data-key-wrapping.js';
import type { TenantKeyStore } from './tenant-key-store.js';

export const SYSTEM_OWNER = 'system';
const CACHE_LIMIT = 10_000;

export class MasterKeyMismatchError extends Error {
  constructor() {
    super('the master key does not match this database (it was set up with another master key)');
    this.name = 'MasterKeyMismatchError';
  }
}

/** One version of an owner's key, as the inventory and the re-encryption job see it (never the key). */
export interface KeyVersion {
  version: number;
  state: 'active' | 'retired' | 'destroyed';
  algorithm: string;
  masterKeyId: string;
  createdAt: string;
  retiredAt: string | null;
  destroyedAt: string | null;
}

/**
 * The key hierarchy: the master key wraps the data keys of each owner (each tenant, and `system` for
 * values that belong to no single tenant, such as users' e-mail addresses), one version per
 * rotation, plus the system's blind-index key. Unwrapped keys live only in memory. An owner's
 * newest version is `active` and seals new values; older ones are `retired` (they still open what
 * they sealed until re-encryption moves it) and then `destroyed` (the wrapped key is erased).
 */
export class KeyRing {
  private readonly ciphers = new Map<string, Cipher>();
  private indexKey: Buffer | undefined;
  private system: Cipher | undefined;
  readonly masterKeyId: string;
  private readonly wrapping: DataKeyWrapping;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly masterKey: MasterKey,
    private readonly clock: Clock,
    /** What new values are sealed with (CONFIDE_DATA_CIPHER); any known algorithm still opens. */
    private readonly primaryAlgorithm: DataAlgorithm = DEFAULT_DATA_ALGORITHM,
    /** Tenants' TKEKs (CONFIDE_TENANT_KEY_DIR): with it, a tenant's data keys are wrapped under its own TKEK; null: under the master key. */
    tenantKeys: TenantKeyStore | null = null,
  ) {
    this.masterKeyId = masterKey.id;
    this.wrapping = new DataKeyWrapping(masterKey, tenantKeys);
  }

  /** Checks the master key against the database and creates the system keys on first start. */
  async open(): Promise<void> {
    const recorded = await this.db
      .selectFrom('system_meta')
      .select('value')
      .where('key', '=', 'master_key_id')
      .executeTakeFirst();
    if (recorded && recorded.value !== this.masterKeyId) throw new MasterKeyMismatchError();
    if (!recorded) {
      await this.db
        .insertInto('system_meta')
        .values({ key: 'master_key_id', value: this.masterKeyId })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      return this.open();
    }
    for (const purpose of ['data', 'index'] as const) {
      try {
        await this.createKey(this.db, { owner: SYSTEM_OWNER, purpose, version: 1 });
      } catch (error) {
        if (!isUniqueViolation(error)) throw error; // another node, or an earlier start, made it
      }
    }
    this.system = await this.loadCipher(SYSTEM_OWNER);
    await this.blindIndexKey();
  }

  /**
   * The system cipher, loaded at open and never evicted, so code inside a transaction can use
   * it without a query of its own (on SQLite that query would wait for the transaction).
   */
  systemCipher(): Cipher {
    if (!this.system) throw new Error('key ring is not open');
    return this.system;
  }

  /**
   * Creates a new owner's first data key inside the caller's transaction and returns its cipher,
   * so the caller can encrypt with it before the transaction commits.
   */
  async createOwnerKey(executor: Kysely<DB>, owner: string): Promise<Cipher> {
    const key = await this.createKey(executor, { owner, purpose: 'data', version: 1 });
    const cipher = createCipher(owner, new Map([[1, key]]), this.primaryAlgorithm);
    this.remember(owner, cipher);
    return cipher;
  }

  async cipherFor(owner: string): Promise<Cipher> {
    if (owner === SYSTEM_OWNER && this.system) return this.system;
    const cached = this.ciphers.get(owner);
    if (cached) {
      this.ciphers.delete(owner);
      this.ciphers.set(owner, cached);
      return cached;
    }
    const cipher = await this.loadCipher(owner);
    this.remember(owner, cipher);
    return cipher;
  }

  /**
   * Drops an owner's cached keys, so the next use reads the key ring again: after a new key
   * version is added (rotation), the cached cipher would go on sealing with the old one. The
   * system cipher is reloaded at once, since systemCipher() must answer without a query.
   */
  async forget(owner: string): Promise<void> {
    this.ciphers.delete(owner);
    if (owner === SYSTEM_OWNER) this.system = await this.loadCipher(SYSTEM_OWNER);
  }

  /** Drops every cached key (the blind-index key too) and reloads the system cipher. */
  async forgetAll(): Promise<void> {
    this.ciphers.clear();
    this.indexKey = undefined;
    this.system = await this.loadCipher(SYSTEM_OWNER);
  }

  private async loadCipher(owner: string): Promise<Cipher> {
    const rows = await this.db
      .selectFrom('key_ring')
      .select(['version', 'wrapped_key', 'wrapped_by'])
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .where('state', '<>', 'destroyed')
      .execute();
    if (rows.length === 0) throw this.wrapping.noKeyError(owner);
    const keys = new Map(
      rows.map((row) => [row.version, unwrapKey(this.wrapping.forExisting(owner, row.wrapped_by), { owner, purpose: 'data', version: row.version }, row.wrapped_key)]),
    );
    return createCipher(owner, keys, this.primaryAlgorithm);
  }

  private remember(owner: string, cipher: Cipher): void {
    this.ciphers.set(owner, cipher);
    if (this.ciphers.size > CACHE_LIMIT) this.ciphers.delete(this.ciphers.keys().next().value!);
  }

  /** The key behind blind indexes (keyed HMACs used to look up encrypted values). */
  async blindIndexKey(): Promise<Buffer> {
    if (this.indexKey) return this.indexKey;
    const slot: KeySlot = { owner: SYSTEM_OWNER, purpose: 'index', version: 1 };
    const row = await this.db
      .selectFrom('key_ring')
      .select('wrapped_key')
      .where('owner', '=', slot.owner)
      .where('purpose', '=', slot.purpose)
      .where('version', '=', slot.version)
      .executeTakeFirstOrThrow();
    this.indexKey = unwrapKey(this.masterKey, slot, row.wrapped_key);
    return this.indexKey;
  }

  /**
   * Adds the owner's next data key version and makes it the one that seals new values; the
   * versions before it are retired (they still open what they sealed). Returns the new version.
   * Re-encrypting what older versions sealed is the rotation job's (src/key-rotation/…).
   */
  async rotate(owner: string, executor?: Kysely<DB>): Promise<number> {
    // One unit: the version before is retired only if the new one is added (two rotations racing:
    // one fails on the unique version, and the owner still has exactly one active version).
    const addNext = async (trx: Kysely<DB>): Promise<number> => {
      const newest = await trx
        .selectFrom('key_ring')
        .select((eb) => eb.fn.max('version').as('version'))
        .where('owner', '=', owner)
        .where('purpose', '=', 'data')
        .executeTakeFirst();
      if (newest?.version === null || newest?.version === undefined) throw new Error('no data key for this owner');
      const version = Number(newest.version) + 1;
      const now = this.clock.now().toISOString();
      await trx.updateTable('key_ring').set({ state: 'retired', retired_at: now }).where('owner', '=', owner).where('purpose', '=', 'data').where('state', '=', 'active').execute();
      await this.createKey(trx, { owner, purpose: 'data', version });
      return version;
    };
    const version = executor ? await addNext(executor) : await this.db.transaction().execute(addNext);
    await this.forget(owner); // after the commit: the reload must see the new version
    return version;
  }

  /** Every version of an owner's data key, oldest first. */
  async versionsOf(owner: string, executor: Kysely<DB> = this.db): Promise<KeyVersion[]> {
    const rows = await executor
      .selectFrom('key_ring')
      .select(['version', 'state', 'algorithm', 'master_key_id', 'created_at', 'retired_at', 'destroyed_at'])
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .orderBy('version')
      .execute();
    return rows.map((row) => ({
      version: Number(row.version),
      state: row.state,
      algorithm: row.algorithm,
      masterKeyId: row.master_key_id,
      createdAt: row.created_at,
      retiredAt: row.retired_at,
      destroyedAt: row.destroyed_at,
    }));
  }

  /**
   * Erases a retired version's wrapped key: what it sealed can never be opened again. Refuses the
   * active version. The caller proves first that nothing uses it any more, and records the event.
   */
  async destroyVersion(owner: string, version: number, executor: Kysely<DB> = this.db): Promise<boolean> {
    const result = await executor
      .updateTable('key_ring')
      .set({ state: 'destroyed', wrapped_key: '', destroyed_at: this.clock.now().toISOString() })
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .where('version', '=', version)
      .where('state', '=', 'retired')
      .executeTakeFirst();
    await this.forget(owner);
    return result.numUpdatedRows > 0n;
  }

  /**
   * Wraps every key that is not destroyed again under `next` (master key rotation or migration to
   * another provider), inside the caller's transaction, and records `next` as the deployment's
   * master key. Afterwards the current master key is no longer needed.
   */
  async rewrapUnder(executor: Kysely<DB>, next: MasterKey): Promise<number> {
    const rows = await executor.selectFrom('key_ring').select(['id', 'owner', 'purpose', 'version', 'wrapped_key']).where('state', '<>', 'destroyed').where('wrapped_by', '=', 'master').execute(); // TKEK-wrapped rows: TenantKeyStore.rewrapAll
    for (const row of rows) {
      const slot: KeySlot = { owner: row.owner, purpose: row.purpose, version: Number(row.version) };
      const key = unwrapKey(this.masterKey, slot, row.wrapped_key);
      await executor.updateTable('key_ring').set({ wrapped_key: wrapKey(next, slot, key), master_key_id: next.id }).where('id', '=', row.id).execute();
      key.fill(0);
    }
    await executor.updateTable('system_meta').set({ value: next.id }).where('key', '=', 'master_key_id').execute();
    return rows.length;
  }

  private async createKey(executor: Kysely<DB>, slot: KeySlot): Promise<Buffer> {
    const key = newAes256Key();
    const { wrapper, wrappedBy } = this.wrapping.forNew(slot.owner, slot.owner !== SYSTEM_OWNER);
    await executor
      .insertInto('key_ring')
      .values({
        id: newId(),
        owner: slot.owner,
        purpose: slot.purpose,
        version: slot.version,
        // What the key seals with: the primary algorithm for data keys (the inventory shows it); the index key keys an HMAC.
        algorithm: slot.purpose === 'data' ? this.primaryAlgorithm.name : 'HMAC-SHA256',
        wrapped_key: wrapKey(wrapper, slot, key),
        wrapped_by: wrappedBy,
        master_key_id: this.masterKeyId,
        created_at: this.clock.now().toISOString(),
      })
      .execute();
    return key;
  }
}

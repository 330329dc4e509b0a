import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import { DEFAULT_DATA_ALGORITHM, type DataAlgorithm } from './algorithms.js';
import { createCipher, type Cipher } from './cipher.js';
import { CipherCache } from './cipher-cache.js';
import { KEYS_MAX_STALE_MS, KeySync } from './key-sync.js';
import { unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';
import type { MasterKey } from './master-key.js';
import { rewrapKeyRing } from './rewrap-key-ring.js';
import { DataKeyWrapping } from './data-key-wrapping.js';
import type { TenantKeyStore } from './tenant-key-store.js';
import { eraseRetiredVersion, holdMasterKeyId, ownersWithoutNext, promoteNext, recordedMasterKeyId, recordMasterKeyId, sealingVersion } from './key-ring-rows.js';
import { versionsOf, versionStates, type KeyVersion } from './key-ring-rows.js';

export type { KeyVersion } from './key-ring-rows.js';

export const SYSTEM_OWNER = 'system';

export class MasterKeyMismatchError extends Error {
  constructor() {
    super('the master key does not match this database (it was set up with another master key)');
    this.name = 'MasterKeyMismatchError';
  }
}

/**
 * The key hierarchy: the master key wraps the data keys of each owner (each tenant, and `system` for
 * values that belong to no single tenant, such as users' e-mail addresses), one version per
 * rotation, plus the system's blind-index key. Unwrapped keys live only in memory. An owner's
 * `active` version seals new values; older ones are `retired` (they still open what they sealed
 * until re-encryption moves it) and then `destroyed` (the wrapped key is erased).
 *
 * Each owner also has a `next` version, made one rotation ahead: every node that loads the owner's
 * keys loads it too, so it can open values sealed under it before it seals any itself. A rotation
 * on one node makes `next` active there at once; other nodes, which learn of it only when they next
 * poll (src/key-rotation/reencryption-worker.ts), already hold the key its new values need. This is
 * DNSSEC's pre-publish rollover (RFC 6781 §4.1.1.1): publish the key before it is used, so that
 * caches have it. A value under a version newer than any a node holds (an owner rotated twice
 * within a poll) makes that node drop its cached keys at once, so only that one read fails.
 */
export class KeyRing {
  private readonly ciphers = new CipherCache();
  /** How recently this process learned of rotations made elsewhere (key-sync.ts). */
  readonly sync = new KeySync(KEYS_MAX_STALE_MS);
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
    // The master key's id is checked before any key is made; createKey checks it again in each transaction.
    const recorded = await recordedMasterKeyId(this.db);
    if (recorded !== undefined && recorded !== this.masterKeyId) throw new MasterKeyMismatchError();
    if (recorded === undefined) {
      await recordMasterKeyId(this.db, this.masterKeyId);
      return this.open();
    }
    for (const purpose of ['data', 'index'] as const) {
      try {
        await this.createKey(this.db, { owner: SYSTEM_OWNER, purpose, version: 1 }, 'active');
      } catch (error) {
        if (!isUniqueViolation(error)) throw error; // another node, or an earlier start, made it
      }
    }
    await this.ensureNext(SYSTEM_OWNER);
    this.system = await this.ciphers.getOrLoad(SYSTEM_OWNER, () => this.loadCipher(SYSTEM_OWNER));
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
    const key = await this.createKey(executor, { owner, purpose: 'data', version: 1 }, 'active');
    const next = await this.createKey(executor, { owner, purpose: 'data', version: 2 }, 'next');
    const cipher = this.cipherOf(owner, new Map([[1, key], [2, next]]), 1);
    this.ciphers.set(owner, cipher);
    return cipher;
  }

  /**
   * Makes the owner's `next` version if it has none (owners made before versions were made ahead,
   * and the system's keys of such deployments). True if it made one; another node making it first
   * is no error.
   */
  async ensureNext(owner: string): Promise<boolean> {
    // One transaction: createKey's master key check holds its lock until the key is in (rewrapUnder).
    const made = await this.db
      .transaction()
      .execute(async (trx) => {
        const rows = await versionStates(trx, owner);
        if (rows.length === 0 || rows.some((row) => row.state === 'next')) return false;
        await this.createKey(trx, { owner, purpose: 'data', version: Math.max(...rows.map((row) => row.version)) + 1 }, 'next');
        return true;
      })
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) return false;
        throw error;
      });
    if (made) await this.forget(owner);
    return made;
  }

  /** Owners with an active data key and no `next` version, at most `limit` of them. */
  ownersWithoutNext(limit: number): Promise<string[]> {
    return ownersWithoutNext(this.db, limit);
  }

  async cipherFor(owner: string): Promise<Cipher> {
    if (owner === SYSTEM_OWNER && this.system) return this.system;
    return this.ciphers.getOrLoad(owner, () => this.loadCipher(owner));
  }

  /**
   * Drops an owner's cached keys, so the next use reads the key ring again: after a new key
   * version is added (rotation), the cached cipher would go on sealing with the old one. The
   * system cipher is reloaded at once, since systemCipher() must answer without a query.
   */
  async forget(owner: string): Promise<void> {
    this.ciphers.invalidate(owner);
    if (owner === SYSTEM_OWNER) this.system = await this.ciphers.getOrLoad(SYSTEM_OWNER, () => this.loadCipher(SYSTEM_OWNER));
  }

  /** Drops every cached key (the blind-index key too) and reloads the system cipher. */
  async forgetAll(): Promise<void> {
    this.ciphers.clear();
    this.indexKey = undefined;
    this.system = await this.ciphers.getOrLoad(SYSTEM_OWNER, () => this.loadCipher(SYSTEM_OWNER));
  }

  private async loadCipher(owner: string): Promise<Cipher> {
    const rows = await this.db
      .selectFrom('key_ring')
      .select(['version', 'state', 'wrapped_key', 'wrapped_by'])
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .where('state', '<>', 'destroyed')
      .execute();
    if (rows.length === 0) throw this.wrapping.noKeyError(owner);
    const keys = new Map(
      rows.map((row) => [Number(row.version), unwrapKey(this.wrapping.forExisting(owner, row.wrapped_by, owner !== SYSTEM_OWNER), { owner, purpose: 'data', version: Number(row.version) }, row.wrapped_key)]),
    );
    // The active version seals (no active one: a rotation died half-way in an older release; the newest that is not 'next' then).
    const sealing = sealingVersion(rows.map((row) => ({ version: Number(row.version), state: row.state })));
    if (sealing === null) throw new Error(`no key version of ${owner} can seal`);
    return this.cipherOf(owner, keys, sealing);
  }

  private cipherOf(owner: string, keys: ReadonlyMap<number, Buffer>, sealingVersion: number): Cipher {
    let stale = false;
    const cipher: Cipher = createCipher(owner, keys, {
      primary: this.primaryAlgorithm,
      sealingVersion,
      // Stale keys: drop them once, so the next use reads the key ring again (the read that met it fails).
      onNewerVersion: () => {
        if (stale) return;
        stale = true;
        this.ciphers.deleteIfHolding(owner, cipher);
        if (owner === SYSTEM_OWNER && this.system === cipher) void this.forget(owner).catch(() => {});
      },
    });
    return cipher;
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
    // One unit: the version before is retired only if the next one becomes active (two rotations
    // racing: one finds `next` taken, or fails on the unique version, and rolls back).
    const addNext = async (trx: Kysely<DB>): Promise<number> => {
      // The master key check (and its lock) before any key_ring row is touched: a master key switch
      // takes the same lock first and then updates key_ring rows, so the other order could deadlock.
      if (!(await holdMasterKeyId(trx, this.masterKeyId))) throw new MasterKeyMismatchError();
      const rows = await versionStates(trx, owner);
      if (rows.length === 0) throw new Error('no data key for this owner');
      // The `next` made ahead, if it is newer than every version that sealed (an older release could leave one behind).
      const sealed = Math.max(0, ...rows.filter((row) => row.state !== 'next').map((row) => row.version));
      const ready = rows.find((row) => row.state === 'next' && row.version > sealed);
      if (!(await promoteNext(trx, owner, ready?.version ?? null, this.clock.now().toISOString(), this.primaryAlgorithm.name))) {
        throw new Error('a concurrent rotation of this owner took its next key version');
      }
      // An owner made before versions were made ahead has none: its first rotation adds the version it seals with.
      const newest = Math.max(...rows.map((row) => row.version));
      const version = ready?.version ?? newest + 1;
      if (!ready) await this.createKey(trx, { owner, purpose: 'data', version }, 'active');
      await this.createKey(trx, { owner, purpose: 'data', version: Math.max(newest, version) + 1 }, 'next');
      return version;
    };
    const version = executor ? await addNext(executor) : await this.db.transaction().execute(addNext);
    await this.forget(owner); // after the commit: the reload must see the new version
    return version;
  }

  /** Every version of an owner's data key, oldest first. */
  versionsOf(owner: string, executor: Kysely<DB> = this.db): Promise<KeyVersion[]> {
    return versionsOf(executor, owner);
  }

  /**
   * Erases a retired version's wrapped key: what it sealed can never be opened again. Refuses the
   * active version. The caller proves first that nothing uses it any more, and records the event.
   */
  async destroyVersion(owner: string, version: number, executor: Kysely<DB> = this.db): Promise<boolean> {
    const erased = await eraseRetiredVersion(executor, owner, version, this.clock.now().toISOString());
    await this.forget(owner);
    return erased;
  }

  /**
   * Wraps every key that is not destroyed again under `next` (master key rotation or migration to
   * another provider), inside the caller's transaction, and records `next` as the deployment's
   * master key. Afterwards the current master key is no longer needed.
   */
  rewrapUnder(executor: Kysely<DB>, next: MasterKey): Promise<number> {
    return rewrapKeyRing(executor, this.masterKey, next);
  }

  /**
   * Makes and stores a key wrapped under this process's master key, after checking in the same
   * transaction that the deployment still uses it: a node left running through `confide keys
   * rotate-master` on PostgreSQL must not add a key the new master key cannot open (holdMasterKeyId
   * locks the row that names it; SQLite serialises writers anyway).
   */
  private async createKey(executor: Kysely<DB>, slot: KeySlot, state: 'active' | 'next'): Promise<Buffer> {
    if (!(await holdMasterKeyId(executor, this.masterKeyId))) throw new MasterKeyMismatchError();
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
        state,
        created_at: this.clock.now().toISOString(),
        activated_at: state === 'active' ? this.clock.now().toISOString() : null,
      })
      .execute();
    return key;
  }
}

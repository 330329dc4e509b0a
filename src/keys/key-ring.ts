import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { newAes256Key } from '../lib/aes-gcm.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import { createCipher, type Cipher } from './cipher.js';
import { ALGORITHM_AES_256_GCM } from './envelope-format.js';
import { masterKeyId, unwrapKey, wrapKey, type KeySlot } from './key-wrapping.js';

export const SYSTEM_OWNER = 'system';
const CACHE_LIMIT = 10_000;

export class MasterKeyMismatchError extends Error {
  constructor() {
    super('the master key does not match this database (it was set up with another master key)');
    this.name = 'MasterKeyMismatchError';
  }
}

/**
 * The key hierarchy: the master key wraps one data key per owner (each tenant, and `system` for
 * values that belong to no single tenant, such as users' e-mail addresses) plus the system's
 * blind-index key. Unwrapped keys live only in memory.
 */
export class KeyRing {
  private readonly ciphers = new Map<string, Cipher>();
  private indexKey: Buffer | undefined;
  private system: Cipher | undefined;
  readonly masterKeyId: string;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly masterKey: Buffer,
    private readonly clock: Clock,
  ) {
    this.masterKeyId = masterKeyId(masterKey);
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
    const cipher = createCipher(owner, new Map([[1, key]]));
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
      .select(['version', 'wrapped_key'])
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .execute();
    if (rows.length === 0) throw new Error('no data key for this owner');
    const keys = new Map(
      rows.map((row) => [row.version, unwrapKey(this.masterKey, { owner, purpose: 'data', version: row.version }, row.wrapped_key)]),
    );
    return createCipher(owner, keys);
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

  private async createKey(executor: Kysely<DB>, slot: KeySlot): Promise<Buffer> {
    const key = newAes256Key();
    await executor
      .insertInto('key_ring')
      .values({
        id: newId(),
        owner: slot.owner,
        purpose: slot.purpose,
        version: slot.version,
        algorithm: ALGORITHM_AES_256_GCM,
        wrapped_key: wrapKey(this.masterKey, slot, key),
        master_key_id: this.masterKeyId,
        created_at: this.clock.now().toISOString(),
      })
      .execute();
    return key;
  }
}

import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { SigningKeysTable } from '../db/checkpoint-schema.js';
import type { DB } from '../db/schema.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { ed25519KeyId, generateEd25519, privateKeyFromSeed, rawPublicKey } from '../lib/ed25519.js';
import { newId } from '../lib/ids.js';
import type { Clock } from '../lib/time.js';
import type { MasterKey } from './master-key.js';

/** A signing key's public half, as GET /v1/access-log/public-keys lists it. */
export interface SigningPublicKey {
  keyId: string;
  version: number;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  createdAt: string;
  /** Null for the key that signs now; else when a newer key replaced it (what it signed still verifies). */
  retiredAt: string | null;
}

export interface Signer {
  keyId: string;
  privateKey: KeyObject;
}

/** What the private seed is bound to: copied to another version's row, it does not unwrap. */
export const signingKeyAad = (version: number) => Buffer.from(`confide:signing-key:${version}`, 'utf8');

/**
 * The Ed25519 keys that sign access-log checkpoints. The newest version signs; a rotation adds a
 * new one and retires the others, which stay listed so every checkpoint they signed still verifies.
 * The private seed rests only wrapped under the master key, so it moves with the master key
 * (rotation, migration to an HSM) like every other wrapped key.
 */
export class SigningKeys {
  private signer: Signer | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly masterKey: MasterKey,
    private readonly clock: Clock,
  ) {}

  /** Creates the first signing key on first start (another node, or an earlier start, may have made it). */
  async open(): Promise<void> {
    const any = await this.db.selectFrom('signing_keys').select('id').limit(1).executeTakeFirst();
    if (!any) await this.create(1);
  }

  /** The key that signs now: the newest version, re-read each time so a rotation by the CLI is followed at once. */
  async current(): Promise<Signer> {
    const row = await this.db.selectFrom('signing_keys').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
    if (!row) throw new Error('no signing key (the deployment was not opened)');
    if (this.signer?.keyId !== row.key_id) this.signer = { keyId: row.key_id, privateKey: this.unwrap(row) };
    return this.signer;
  }

  /** Adds a new signing key and retires every older one; returns the new key. */
  async rotate(): Promise<SigningPublicKey> {
    const newest = await this.db.selectFrom('signing_keys').select('version').orderBy('version', 'desc').limit(1).executeTakeFirst();
    const version = (newest ? Number(newest.version) : 0) + 1;
    await this.create(version);
    await this.db
      .updateTable('signing_keys')
      .set({ retired_at: this.clock.now().toISOString() })
      .where('version', '<', version)
      .where('retired_at', 'is', null)
      .execute();
    return (await this.publicKeys()).find((key) => key.version === version)!;
  }

  /** Every signing key ever made, oldest first. */
  async publicKeys(): Promise<SigningPublicKey[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('version', 'asc').execute();
    return rows.map(toPublicKey);
  }

  /**
   * The public keys whose private half unwraps under this master key and matches them: a row an
   * intruder inserted (a key pair of their own, to re-sign a rewritten log) is not among them.
   */
  async authenticPublicKeys(): Promise<Map<string, Buffer>> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().execute();
    const keys = new Map<string, Buffer>();
    for (const row of rows) {
      try {
        const derived = rawPublicKey(createPublicKey(this.unwrap(row)));
        if (derived.equals(Buffer.from(row.public_key, 'base64url')) && ed25519KeyId(derived) === row.key_id) keys.set(row.key_id, derived);
      } catch {
        // does not unwrap under this master key: not one of ours
      }
    }
    return keys;
  }

  /**
   * Re-wraps every signing key's seed under `next`, in the caller's transaction: a master-key
   * rotation or migration must do this with the key ring's keys, or nothing signs or verifies after it.
   */
  async rewrapUnder(executor: Kysely<DB>, next: MasterKey): Promise<number> {
    const rows = await executor.selectFrom('signing_keys').select(['id', 'version', 'wrapped_private_key']).execute();
    for (const row of rows) {
      const aad = signingKeyAad(Number(row.version));
      const seed = this.masterKey.unwrap(row.wrapped_private_key, aad);
      await executor.updateTable('signing_keys').set({ wrapped_private_key: next.wrap(seed, aad), master_key_id: next.id }).where('id', '=', row.id).execute();
      seed.fill(0);
    }
    this.signer = undefined;
    return rows.length;
  }

  private unwrap(row: Selectable<SigningKeysTable>): KeyObject {
    return privateKeyFromSeed(this.masterKey.unwrap(row.wrapped_private_key, signingKeyAad(Number(row.version))));
  }

  private async create(version: number): Promise<void> {
    const { seed, publicKey } = generateEd25519();
    try {
      await this.db
        .insertInto('signing_keys')
        .values({
          id: newId(),
          version,
          key_id: ed25519KeyId(publicKey),
          public_key: publicKey.toString('base64url'),
          wrapped_private_key: this.masterKey.wrap(seed, signingKeyAad(version)),
          master_key_id: this.masterKey.id,
          created_at: this.clock.now().toISOString(),
          retired_at: null,
        })
        .execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error; // another node made this version at the same moment
    } finally {
      seed.fill(0);
    }
  }
}

function toPublicKey(row: Selectable<SigningKeysTable>): SigningPublicKey {
  return { keyId: row.key_id, version: Number(row.version), publicKey: Buffer.from(row.public_key, 'base64url'), createdAt: row.created_at, retiredAt: row.retired_at };
}

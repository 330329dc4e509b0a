import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import { SYSTEM_OWNER } from './key-ring.js';
import type { MasterKey, MasterKeyKind } from './master-key.js';
import type { SigningKeys } from './signing-keys.js';
import type { TenantKeyStore } from './tenant-key-store.js';

const DAY_MS = 86_400_000;
const daysSince = (at: string, now: Date) => Math.floor((now.getTime() - Date.parse(at)) / DAY_MS);

/** The keys above and beside the data keys, as `confide keys status` lists them (fingerprints and dates, never a key). */
export interface KeyHierarchyInventory {
  masterKey: { provider: MasterKeyKind; description: string; fingerprint: string };
  blindIndexKey: { version: number; algorithm: string; createdAt: string; ageDays: number; rotatable: false; note: string } | null;
  signingKeys: Array<{ keyId: string; version: number; algorithm: 'Ed25519'; createdAt: string; retiredAt: string | null; current: boolean }>;
  tenantKeyStore: {
    kind: string;
    description: string;
    /** Tenants whose data keys are wrapped under a TKEK of the store (one TKEK each). */
    tenantsWithKeys: number;
    /** Tenants deleted by destroying their TKEK. */
    tombstones: number;
  } | null;
}

export interface HierarchyDeps {
  db: Kysely<DB>;
  clock: Clock;
  masterKey: MasterKey;
  signingKeys: SigningKeys;
  tenantKeys: TenantKeyStore | null;
}

async function blindIndexKey(deps: HierarchyDeps): Promise<KeyHierarchyInventory['blindIndexKey']> {
  const row = await deps.db
    .selectFrom('key_ring')
    .select(['version', 'algorithm', 'created_at'])
    .where('owner', '=', SYSTEM_OWNER)
    .where('purpose', '=', 'index')
    .orderBy('version', 'desc')
    .executeTakeFirst();
  if (!row) return null;
  return {
    version: Number(row.version),
    algorithm: row.algorithm,
    createdAt: row.created_at,
    ageDays: daysSince(row.created_at, deps.clock.now()),
    rotatable: false,
    // Blind indexes are HMACs of the plaintext: a new key means recomputing every index from the decrypted values.
    note: 'cannot be rotated yet: every blind index would have to be recomputed from the plaintext',
  };
}

async function tenantKeyStore(deps: HierarchyDeps): Promise<KeyHierarchyInventory['tenantKeyStore']> {
  if (!deps.tenantKeys) return null;
  const wrapped = await deps.db
    .selectFrom('key_ring')
    .select((eb) => eb.fn.count<number>('owner').distinct().as('n'))
    .where('purpose', '=', 'data')
    .where('wrapped_by', '=', 'tenant')
    .executeTakeFirstOrThrow();
  return { kind: deps.tenantKeys.kind, description: deps.tenantKeys.description, tenantsWithKeys: Number(wrapped.n), tombstones: deps.tenantKeys.tombstones().length };
}

/** The master key, the blind-index key, the checkpoint signing keys and the tenant key store. */
export async function keyHierarchyInventory(deps: HierarchyDeps): Promise<KeyHierarchyInventory> {
  const publicKeys = await deps.signingKeys.publicKeys();
  const newest = Math.max(0, ...publicKeys.map((key) => key.version));
  return {
    masterKey: { provider: deps.masterKey.kind, description: deps.masterKey.description, fingerprint: deps.masterKey.id },
    blindIndexKey: await blindIndexKey(deps),
    signingKeys: publicKeys.map((key) => ({ keyId: key.keyId, version: key.version, algorithm: 'Ed25519', createdAt: key.createdAt, retiredAt: key.retiredAt, current: key.version === newest })),
    tenantKeyStore: await tenantKeyStore(deps),
  };
}

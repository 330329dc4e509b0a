import type { Kysely } from 'kysely';
import type { Services } from '../src/app/services.js';
import type { AccessLogEntry } from '../src/audit/access-event.js';
import { entryToRow } from '../src/audit/access-log-rows.js';
import { signCheckpoint } from '../src/audit/checkpoint-signature.js';
import { entryHash, genesisHash } from '../src/audit/hash-chain.js';
import type { AccessLogTable, DB, RecordsTable } from '../src/db/schema.js';
import { insertMembership, insertUser } from '../src/identity/user-repository.js';
import type { Cipher } from '../src/keys/cipher.js';
import type { Signer } from '../src/keys/signing-keys.js';
import { newId } from '../src/lib/ids.js';
import { sealRecordData } from '../src/records/record.js';
import { createTenant } from '../src/tenants/create-tenant.js';
import type { BatchInsert } from './batch-insert.js';

/** The collections every seeded tenant's records are spread over, round-robin. */
export const SEED_COLLECTIONS = ['contacts', 'orders', 'notes'] as const;
/** Record ids kept per tenant (in the manifest) for the bench to read: this many per collection. */
const IDS_PER_COLLECTION = 2;

/** A 1 KiB JSON record, the size the SQLite bench creates and reads (bench/run.ts BODY). */
export function seedData(n: number): Record<string, unknown> {
  return { name: `Seed Record ${n}`, n, note: 'x'.repeat(1024 - 48) };
}

/** What the bench needs of a seeded tenant: its member's address (the password is shared) and records to read. */
export interface SeededTenant {
  id: string;
  email: string;
  records: number;
  /** [collection, id] of a few of its records. */
  ids: Array<[string, string]>;
}

/** Everything a tenant's seeding shares: the open services, the writers and the values computed once. */
export interface SeedContext {
  services: Services;
  passwordHash: string;
  systemCipher: Cipher;
  indexKey: Buffer;
  signer: Signer;
  records: BatchInsert<RecordsTable>;
  entries: BatchInsert<AccessLogTable>;
  emailIndex(email: string): string;
}

/**
 * One tenant as sign-up makes it (createTenant: its key, its name, its chain's anchor; an owner
 * whose address is verified), then `count` records sealed by sealRecordData, each with the
 * `create` entry Records.create would append (entryHash, entryToRow: the IP sealed, chained from
 * the genesis hash), the head moved to the last entry and a signed checkpoint of it, as the
 * checkpoint worker would leave a quiet deployment. All inside the caller's transaction.
 */
export async function seedTenant(context: SeedContext, trx: Kysely<DB>, index: number, count: number): Promise<SeededTenant> {
  const { services } = context;
  const now = new Date().toISOString();
  const tenant = { id: newId(), name: `Seed Tenant ${index}`, createdAt: now };
  const user = { id: newId(), email: `seed-${index}@example.test` };
  const cipher = await createTenant(services, trx, tenant);
  await insertUser(trx, { ...user, emailIndex: context.emailIndex(user.email), passwordHash: context.passwordHash, createdAt: now, emailVerifiedAt: now }, context.systemCipher);
  await insertMembership(trx, { tenantId: tenant.id, userId: user.id, role: 'owner', createdAt: now });
  const used = SEED_COLLECTIONS.slice(0, Math.min(count, SEED_COLLECTIONS.length));
  for (const name of used) await trx.insertInto('collections').values({ tenant_id: tenant.id, name, created_at: now }).execute();
  const ids: Array<[string, string]> = [];
  let prevHash = genesisHash(tenant.id);
  for (let n = 0; n < count; n += 1) {
    const collection = SEED_COLLECTIONS[n % SEED_COLLECTIONS.length]!;
    const id = newId();
    const at = new Date().toISOString();
    await context.records.add(trx, { tenant_id: tenant.id, collection, id, data_enc: sealRecordData(cipher, collection, id, seedData(n)), version: 1, created_at: at, updated_at: at });
    const unhashed: Omit<AccessLogEntry, 'hash'> = {
      actor: { type: 'member', id: user.id },
      ip: `192.0.2.${(index % 254) + 1}`,
      action: 'create',
      resource: { type: 'record', collection, id },
      seq: n + 1,
      at,
      prevHash,
    };
    const entry: AccessLogEntry = { ...unhashed, hash: entryHash(tenant.id, unhashed) };
    await context.entries.add(trx, entryToRow(tenant.id, entry, cipher));
    prevHash = entry.hash;
    if (n < SEED_COLLECTIONS.length * IDS_PER_COLLECTION) ids.push([collection, id]);
  }
  if (count > 0) await closeChain(context, trx, tenant.id, count, prevHash);
  return { id: tenant.id, email: user.email, records: count, ids };
}

/** The head names the last entry, and a checkpoint signs it (written with the tenant, not by the worker later). */
async function closeChain(context: SeedContext, trx: Kysely<DB>, tenantId: string, seq: number, hash: string): Promise<void> {
  await trx.updateTable('access_log_heads').set({ seq, hash }).where('tenant_id', '=', tenantId).execute();
  const checkpoint = signCheckpoint(context.signer.privateKey, { tenantId, seq, hash, at: new Date().toISOString(), keyId: context.signer.keyId });
  await trx
    .insertInto('access_log_checkpoints')
    .values({ tenant_id: tenantId, seq, hash, at: checkpoint.at, key_id: checkpoint.keyId, signature: checkpoint.signature })
    .execute();
}

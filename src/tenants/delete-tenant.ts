import type { Actor } from '../core/actor.js';
import type { SecurityEventActor } from '../core/security-events.js';
import type { Cipher } from '../keys/cipher.js';
import { AppError, isAppError } from '../lib/app-error.js';
import type { TenantDeletionDeps } from './tenants-deps.js';
import { removeTenantRows } from './tenant-rows.js';

/** Who deletes: an owner (`member`) through the API, or an operator on the host (`operator`, `host:<user>`) through the CLI. */
export interface Deleter {
  actor: Actor;
  eventActor: SecurityEventActor;
  /** The client's address; none for the operator on the host. */
  ip?: string;
}

/** The signed head of the deleted tenant's log, as it stood after the deletion's own entry: what is kept of it. */
export interface FinalCheckpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string;
  signature: string;
}

export interface TenantDeletionResult {
  tenantId: string;
  deletedAt: string;
  /** True: the tenant's key-encryption key is destroyed, so no copy of the database, restored or not, opens its data. */
  shredded: boolean;
  finalCheckpoint: FinalCheckpoint | null;
  /** Accounts removed with it: its members who belonged to no other tenant. */
  usersRemoved: number;
}

/**
 * Deletes a tenant by crypto-shredding, in an order where a crash at any step leaves nothing
 * readable that should not be, and a second attempt finishes the job:
 * 1. the deletion's access-log entry, committed, and a signed checkpoint of the head it made: the
 *    operator keeps that checkpoint, the proof of what the log held when the tenant went;
 * 2. the tenant's key-encryption key destroyed outside the database (the tenant key store), so
 *    its data keys, in this database and in every copy of it, can never be unwrapped again;
 * 3. its rows removed, in one transaction, then its files' blobs (sealed under keys that were in those rows).
 * Without a tenant key store step 2 is impossible (the data keys are wrapped by the master key,
 * and a restored copy plus the master key would read them): the answer says `shredded: false`.
 */
export async function deleteTenant(deps: TenantDeletionDeps, tenantId: string, by: Deleter): Promise<TenantDeletionResult> {
  const { db, transactions, clock, keyRing, tenantKeys, accessLog, checkpoints, securityEvents } = deps;
  const exists = await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
  if (!exists) throw new AppError('NOT_FOUND');
  const shredded = tenantKeys !== null;
  // Null when an earlier attempt already destroyed the key: there is nothing left to log under it.
  const cipher = await openCipher(deps, tenantId);
  let finalCheckpoint: FinalCheckpoint | null = null;
  if (cipher) {
    await accessLog.appendDurably(tenantId, cipher, { actor: by.actor, action: 'delete', resource: { type: 'tenant', id: tenantId }, details: { shredded }, ip: by.ip ?? '' });
    const signed = await checkpoints.checkpointNow(tenantId);
    if (signed) finalCheckpoint = { seq: signed.seq, hash: signed.hash, at: signed.at, keyId: signed.keyId, signature: signed.signature };
  }
  const deletedAt = clock.now().toISOString();
  tenantKeys?.destroy(tenantId, deletedAt);
  // The backup target's copy of the key goes too; failing that, the next backup removes it (the local tombstone says so).
  if (tenantKeys) await deps.backups?.tenantDeleted(tenantId, deletedAt).catch(() => undefined);
  await keyRing.forget(tenantId);
  await securityEvents.flush(); // events of the tenant still being stored are stored now, and removed with the rest
  const { users } = await transactions.run((trx) => removeTenantRows(trx, tenantId));
  // Best effort: the tenant is deleted once its rows are (a retry would find nothing to delete).
  // Blobs left by a store that is down are named by no row now: the orphan sweep removes them
  // (src/files/orphan-blob-sweep.ts), and they were sealed under keys that are gone anyway.
  const filesRemoved = await deps.fileBlobs.removeTenant(tenantId).then(
    () => true,
    () => false,
  );
  securityEvents.record({
    type: 'tenant.deleted',
    outcome: 'success',
    actor: by.eventActor,
    tenantId,
    ...(by.ip ? { ip: by.ip } : {}),
    details: { shredded, usersRemoved: users, finalCheckpoint, filesRemoved },
  });
  return { tenantId, deletedAt, shredded, finalCheckpoint, usersRemoved: users };
}

async function openCipher(deps: TenantDeletionDeps, tenantId: string): Promise<Cipher | null> {
  try {
    return await deps.keyRing.cipherFor(tenantId);
  } catch (error) {
    if (isAppError(error) && error.code === 'TENANT_DELETED') return null;
    throw error;
  }
}

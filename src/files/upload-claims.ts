import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * How long an upload's claim on its blob holds. The orphan sweep never touches a claimed blob; a
 * claim older than this is taken for one a crash left behind. An upload still running after it
 * (below the stall limit's least progress a file of the largest size could take that long) is
 * refused at its commit with nothing acknowledged, never stored and then lost.
 */
export const UPLOAD_CLAIM_SECONDS = 24 * 3600;

const PREFIX = 'file-upload:';

/**
 * An upload in flight, made known before its first byte is written: a row in `worker_leases`
 * (node-local runtime state, never backed up), named after the blob and held until the upload's
 * own transaction removes it together with inserting the `record_files` row that names the blob.
 * So at every moment a blob the sweep may see is claimed, named, or neither and then truly an
 * orphan: the sweep's check and the upload's commit meet on the one claim row (see OrphanBlobSweep).
 * Its times are the app clock's alone, never compared with a storage's timestamps.
 */
export function claimName(tenantId: string, storageId: string): string {
  return `${PREFIX}${tenantId}/${storageId}`;
}

/** Claims the blob name for an upload about to be written (committed at once, before the write starts). */
export async function claimUpload(db: Kysely<DB>, now: Date, tenantId: string, storageId: string): Promise<void> {
  const expires = new Date(now.getTime() + UPLOAD_CLAIM_SECONDS * 1000).toISOString();
  await db.insertInto('worker_leases').values({ name: claimName(tenantId, storageId), holder: 'upload', expires_at: expires }).execute();
}

/**
 * Ends the claim inside the transaction that names the blob. False when it is gone: the sweep took
 * the upload for a dead one and removed its blob, so the transaction must not commit.
 */
export async function settleUpload(trx: Kysely<DB>, tenantId: string, storageId: string): Promise<boolean> {
  const deleted = await trx.deleteFrom('worker_leases').where('name', '=', claimName(tenantId, storageId)).executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1;
}

/** Drops the claim of an upload that failed (its blob is removed by the upload itself, or later by the sweep). */
export async function dropClaim(db: Kysely<DB>, tenantId: string, storageId: string): Promise<void> {
  await db.deleteFrom('worker_leases').where('name', '=', claimName(tenantId, storageId)).execute();
}

/** Of `names` (claimName), those claimed, with when each claim runs out. */
export async function claimsOf(db: Kysely<DB>, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = await db.selectFrom('worker_leases').select(['name', 'expires_at']).where('name', 'in', names).execute();
  return new Map(rows.map((row) => [row.name, row.expires_at]));
}

/**
 * Takes over a claim that ran out, for the sweep: true when this call removed it (so no upload can
 * commit under it any more); false when it is gone or renewed meanwhile, the upload having committed.
 */
export async function expireClaim(db: Kysely<DB>, name: string, now: Date): Promise<boolean> {
  const deleted = await db.deleteFrom('worker_leases').where('name', '=', name).where('expires_at', '<', now.toISOString()).executeTakeFirst();
  return Number(deleted.numDeletedRows) === 1;
}

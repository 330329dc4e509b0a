import { PostgresAdapter, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * The key_ring rows of data key versions, read and changed for KeyRing (key-ring.ts), which owns
 * what they mean; here only the queries, so the key ring reads as the lifecycle it is.
 */

/** One version of an owner's key, as the inventory and the re-encryption job see it (never the key). */
export interface KeyVersion {
  version: number;
  state: 'next' | 'active' | 'retired' | 'destroyed';
  algorithm: string;
  masterKeyId: string;
  createdAt: string;
  /** When it began to seal (null: not yet, a 'next' version; or active before these were recorded: see createdAt). */
  activatedAt: string | null;
  retiredAt: string | null;
  destroyedAt: string | null;
}

/** Every version of an owner's data key, oldest first. */
export async function versionsOf(executor: Kysely<DB>, owner: string): Promise<KeyVersion[]> {
  const rows = await executor
    .selectFrom('key_ring')
    .select(['version', 'state', 'algorithm', 'master_key_id', 'created_at', 'activated_at', 'retired_at', 'destroyed_at'])
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
    activatedAt: row.activated_at,
    retiredAt: row.retired_at,
    destroyedAt: row.destroyed_at,
  }));
}

/** The owner's data key versions and their states only (what a rotation decides on). */
export async function versionStates(executor: Kysely<DB>, owner: string): Promise<Array<{ version: number; state: KeyVersion['state'] }>> {
  const rows = await executor.selectFrom('key_ring').select(['version', 'state']).where('owner', '=', owner).where('purpose', '=', 'data').execute();
  return rows.map((row) => ({ version: Number(row.version), state: row.state }));
}

/** Owners with an active data key and no `next` version, at most `limit` of them. */
export async function ownersWithoutNext(db: Kysely<DB>, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('key_ring as active')
    .select('active.owner')
    .where('active.purpose', '=', 'data')
    .where('active.state', '=', 'active')
    .where((eb) =>
      eb.not(
        eb.exists(eb.selectFrom('key_ring as next').select('next.id').whereRef('next.owner', '=', 'active.owner').where('next.purpose', '=', 'data').where('next.state', '=', 'next')),
      ),
    )
    .orderBy('active.owner')
    .limit(limit)
    .execute();
  return rows.map((row) => row.owner);
}

/**
 * Retires the owner's active version (and any other `next`, which only an older release could
 * leave) and makes `version`, its `next`, active, recording the algorithm it seals with from now on
 * (the primary may have changed since it was made); false if another rotation took it.
 */
export async function promoteNext(trx: Kysely<DB>, owner: string, version: number | null, now: string, algorithm: string): Promise<boolean> {
  await trx
    .updateTable('key_ring')
    .set({ state: 'retired', retired_at: now })
    .where('owner', '=', owner)
    .where('purpose', '=', 'data')
    .where('state', 'in', ['active', 'next'])
    .where('version', '<>', version ?? -1)
    .execute();
  if (version === null) return true;
  const promoted = await trx
    .updateTable('key_ring')
    .set({ state: 'active', activated_at: now, algorithm })
    .where('owner', '=', owner)
    .where('purpose', '=', 'data')
    .where('version', '=', version)
    .where('state', '=', 'next')
    .executeTakeFirst();
  return promoted.numUpdatedRows > 0n;
}

/**
 * The version that seals: the active one; with none (a rotation that died half-way in an older
 * release), the newest that is neither `next` nor destroyed; null if there is none.
 */
export function sealingVersion(rows: ReadonlyArray<{ version: number; state: KeyVersion['state'] }>): number | null {
  const pick = (states: ReadonlyArray<KeyVersion['state']>) => rows.filter((row) => states.includes(row.state)).map((row) => row.version);
  const active = pick(['active']);
  const fallback = pick(['retired']);
  if (active.length > 0) return Math.max(...active);
  return fallback.length > 0 ? Math.max(...fallback) : null;
}

/** The deployment's master key id as recorded (`system_meta`), or undefined on a new database. */
export async function recordedMasterKeyId(db: Kysely<DB>): Promise<string | undefined> {
  return (await db.selectFrom('system_meta').select('value').where('key', '=', 'master_key_id').executeTakeFirst())?.value;
}

/** Records a new database's master key id (another node recording first is no error). */
export async function recordMasterKeyId(db: Kysely<DB>, masterKeyId: string): Promise<void> {
  await db.insertInto('system_meta').values({ key: 'master_key_id', value: masterKeyId }).onConflict((oc) => oc.column('key').doNothing()).execute();
}

/** Erases a retired version's wrapped key (never the active or next one). True if it did. */
export async function eraseRetiredVersion(executor: Kysely<DB>, owner: string, version: number, now: string): Promise<boolean> {
  const result = await executor
    .updateTable('key_ring')
    .set({ state: 'destroyed', wrapped_key: '', destroyed_at: now })
    .where('owner', '=', owner)
    .where('purpose', '=', 'data')
    .where('version', '=', version)
    .where('state', '=', 'retired')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Whether the deployment's master key is still `masterKeyId`. On PostgreSQL the row that records it
 * is read `FOR SHARE`: held until the caller's transaction ends, so it serialises with a master key
 * switch (KeyRing.rewrapUnder updates the row first; a read that waited for it sees its new value),
 * while key creations do not wait for each other. SQLite serialises writers anyway.
 */
export async function holdMasterKeyId(executor: Kysely<DB>, masterKeyId: string): Promise<boolean> {
  let query = executor.selectFrom('system_meta').select('value').where('key', '=', 'master_key_id');
  if (executor.getExecutor().adapter instanceof PostgresAdapter) query = query.forShare();
  return (await query.executeTakeFirst())?.value === masterKeyId;
}

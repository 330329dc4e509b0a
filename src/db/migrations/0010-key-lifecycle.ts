import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Keys that rotate. A key version is `active` (it seals new values: the newest active version of
 * its owner and purpose), `retired` (a newer version replaced it; it still opens the values sealed
 * under it until re-encryption has moved them all) or `destroyed` (nothing uses it any more: its
 * wrapped key is erased, `destroyed_at` says when). `key_rotations` is the resumable re-encryption
 * job of one rotation: which owner, from which versions to which, where in the registry of
 * encrypted fields it has got to (a checkpoint it commits with each batch), and its counts.
 */
export const keyLifecycle: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('key_ring').addColumn('state', 'text', (c) => c.notNull().defaultTo('active')).execute();
    await db.schema.alterTable('key_ring').addColumn('retired_at', 'text').execute();
    await db.schema.alterTable('key_ring').addColumn('destroyed_at', 'text').execute();
    // 'master': wrapped under the master key; 'tenant': under its tenant's TKEK, outside the database (crypto-shredding, src/keys/tenant-key-store.ts).
    await db.schema.alterTable('key_ring').addColumn('wrapped_by', 'text', (c) => c.notNull().defaultTo('master')).execute();

    await db.schema
      .createTable('key_rotations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      /** 'system' or a tenant id. */
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('purpose', 'text', (c) => c.notNull())
      /** The version new values are sealed with; every older version is re-encrypted to it. */
      .addColumn('to_version', 'integer', (c) => c.notNull())
      /** The algorithm values are re-sealed with (CONFIDE_DATA_CIPHER when the rotation started). */
      .addColumn('algorithm', 'text', (c) => c.notNull())
      /** 'running' | 'done' | 'superseded' (a newer rotation of the same owner took over). */
      .addColumn('state', 'text', (c) => c.notNull())
      /** Who asked: `member:<id>`, `host:<user>` (the CLI), `system` (the schedule). */
      .addColumn('requested_by', 'text', (c) => c.notNull())
      /** Where the job has got to: the registry field, and the last primary key done in it (JSON), or null at its start. */
      .addColumn('field', 'text')
      .addColumn('position', 'text')
      .addColumn('values_total', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('values_done', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('finished_at', 'text')
      .execute();
    // At most one running job per owner and purpose: a second rotation supersedes the first (it re-encrypts to the newer version anyway).
    await sql`CREATE UNIQUE INDEX key_rotations_one_running ON key_rotations (owner, purpose) WHERE state = 'running'`.execute(db);
  },
};

import type { Kysely, Migration } from 'kysely';

/**
 * Key versions made ahead of their rotation (state 'next', src/keys/key-ring.ts): a version exists,
 * and every node loads it to open values, before any node seals with it. `activated_at` is when a
 * version began to seal: a key's age (its cryptoperiod, NIST SP 800-57) counts from then, not from
 * when it was made ready. Null for versions active before this migration: their `created_at` is
 * when they began to seal.
 */
export const nextKeyVersions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('key_ring').addColumn('activated_at', 'text').execute();
  },
};

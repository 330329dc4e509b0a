import type { Kysely, Migration } from 'kysely';

/**
 * Signed checkpoints of the access log (docs/keys.md, "Signed checkpoints"). `signing_keys` holds
 * the Ed25519 keys that sign them: the public key in the clear (anyone may verify), the private key
 * only wrapped under the master key, bound to its version. A rotated key is retired, never deleted:
 * the checkpoints it signed must stay verifiable. `access_log_checkpoints` is each tenant's signed
 * chain heads; it has no foreign key to `tenants`, so the final checkpoint of a deleted tenant stays.
 */
export const accessLogCheckpoints: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('signing_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('version', 'integer', (c) => c.notNull().unique())
      /** SHA-256 of the raw public key, first 16 hex characters: what a checkpoint names. */
      .addColumn('key_id', 'text', (c) => c.notNull().unique())
      /** The raw 32-byte Ed25519 public key, base64url. */
      .addColumn('public_key', 'text', (c) => c.notNull())
      /** The 32-byte private seed wrapped by the master key (MasterKey.wrap), AAD `confide:signing-key:<version>`. */
      .addColumn('wrapped_private_key', 'text', (c) => c.notNull())
      .addColumn('master_key_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      /** Set when a newer key replaced it: it signs nothing after this, and still verifies what it signed. */
      .addColumn('retired_at', 'text')
      .execute();

    await db.schema
      .createTable('access_log_checkpoints')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      /** Ed25519 over the canonical checkpoint (src/audit/checkpoint-signature.ts), base64url. */
      .addColumn('signature', 'text', (c) => c.notNull())
      // One checkpoint per chain position: two nodes signing the same head insert it once.
      .addPrimaryKeyConstraint('access_log_checkpoints_pk', ['tenant_id', 'seq'])
      .execute();
  },
};

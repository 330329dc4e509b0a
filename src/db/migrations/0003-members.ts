import type { Kysely, Migration } from 'kysely';

/** Invitations to join a tenant, and each tenant's security settings. */
export const members: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('invitations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('email_enc', 'text', (c) => c.notNull())
      .addColumn('email_index', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('invited_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('accepted_at', 'text')
      .execute();
    await db.schema.createIndex('invitations_tenant').on('invitations').column('tenant_id').execute();

    await db.schema
      .createTable('tenant_settings')
      .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
      .addColumn('require_mfa', 'integer', (c) => c.notNull())
      .addColumn('session_idle_seconds', 'integer')
      .addColumn('session_absolute_seconds', 'integer')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
};

import type { Kysely, Migration } from 'kysely';

/** Password resets, where each session comes from, and the stored security events. */
export const accountSecurity: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('password_resets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .execute();
    await db.schema.createIndex('password_resets_user').on('password_resets').column('user_id').execute();

    await db.schema.alterTable('sessions').addColumn('ip_enc', 'text').execute();
    await db.schema.alterTable('sessions').addColumn('user_agent_enc', 'text').execute();

    await db.schema
      .createTable('security_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text')
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('ip_enc', 'text')
      .addColumn('details_enc', 'text')
      .execute();
    await db.schema.createIndex('security_events_tenant').on('security_events').columns(['tenant_id', 'id']).execute();
  },
};

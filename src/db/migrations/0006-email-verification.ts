import { sql, type Kysely, type Migration } from 'kysely';

/**
 * E-mail verification (against account pre-hijacking), revocable invitations, who acted in a
 * security event, an index for pruning old security events, and the revocation of API keys that
 * outlived their creator's right to make them.
 */
export const emailVerification: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('users').addColumn('email_verified_at', 'text').execute();
    // Whoever joined by invitation already proved the address: the token came by e-mail.
    await sql`
      UPDATE users SET email_verified_at = (
        SELECT min(invitations.accepted_at) FROM invitations
        WHERE invitations.email_index = users.email_index AND invitations.accepted_at IS NOT NULL
      )`.execute(db);

    await db.schema
      .createTable('email_verifications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .execute();
    await db.schema.createIndex('email_verifications_user').on('email_verifications').column('user_id').execute();

    await db.schema.alterTable('invitations').addColumn('revoked_at', 'text').execute();
    await db.schema.createIndex('invitations_tenant_created').on('invitations').columns(['tenant_id', 'created_at']).execute();

    await db.schema.alterTable('security_events').addColumn('actor_type', 'text').execute();
    await db.schema.alterTable('security_events').addColumn('actor_id', 'text').execute();
    await db.schema.createIndex('security_events_at').on('security_events').column('at').execute();

    await db.schema.createIndex('api_keys_tenant_creator').on('api_keys').columns(['tenant_id', 'created_by']).execute();
    // Keys whose creator was removed or demoted before this version revoked such keys: revoke them now.
    await sql`
      UPDATE api_keys SET revoked_at = ${new Date().toISOString()}
      WHERE revoked_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM memberships
        WHERE memberships.tenant_id = api_keys.tenant_id AND memberships.user_id = api_keys.created_by
          AND memberships.role IN ('owner', 'admin')
      )`.execute(db);
  },
};

import type { Kysely, Migration } from 'kysely';

/**
 * Staff access: a realm of its own (accounts, second factors, sign-in challenges, sessions; no
 * foreign key to users, so no staff row can ever be mistaken for a customer's), the internal
 * staff policy and its acknowledgements, access requests and the grants they become, and each
 * tenant's choice of how staff may reach it.
 */
export const staffAccess: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('staff')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('email_enc', 'text', (c) => c.notNull())
      .addColumn('email_index', 'text', (c) => c.notNull().unique())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('enrolled_at', 'text')
      .addColumn('disabled_at', 'text')
      .execute();

    await db.schema
      .createTable('staff_enrolments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .execute();
    await db.schema.createIndex('staff_enrolments_staff').on('staff_enrolments').column('staff_id').execute();

    await db.schema
      .createTable('staff_totp_factors')
      .addColumn('staff_id', 'text', (c) => c.primaryKey().references('staff.id'))
      .addColumn('secret_enc', 'text', (c) => c.notNull())
      .addColumn('confirmed_at', 'text')
      .addColumn('last_used_step', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('staff_recovery_codes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('staff_recovery_codes_staff').on('staff_recovery_codes').column('staff_id').execute();

    await db.schema
      .createTable('staff_mfa_challenges')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .execute();

    await db.schema
      .createTable('staff_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('ip_enc', 'text')
      .execute();
    await db.schema.createIndex('staff_sessions_staff').on('staff_sessions').column('staff_id').execute();

    await db.schema
      .createTable('staff_policies')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('published_at', 'text', (c) => c.notNull())
      .addColumn('published_by', 'text', (c) => c.notNull().references('staff.id'))
      .execute();

    await db.schema
      .createTable('staff_policy_acknowledgements')
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('version', 'integer', (c) => c.notNull().references('staff_policies.version'))
      .addColumn('acknowledged_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('staff_policy_acknowledgements_pk', ['staff_id', 'version'])
      .execute();

    await db.schema
      .createTable('access_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('justification', 'text', (c) => c.notNull())
      .addColumn('reason_enc', 'text', (c) => c.notNull())
      .addColumn('ticket_enc', 'text')
      .addColumn('duration_minutes', 'integer', (c) => c.notNull())
      .addColumn('break_glass', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('decided_at', 'text')
      .addColumn('decided_by_type', 'text')
      .addColumn('decided_by', 'text')
      .addColumn('decision_reason_enc', 'text')
      .addColumn('reviewed_at', 'text')
      .addColumn('reviewed_by', 'text')
      .addColumn('review_notes_enc', 'text')
      .execute();
    await db.schema.createIndex('access_requests_tenant').on('access_requests').columns(['tenant_id', 'id']).execute();
    await db.schema.createIndex('access_requests_staff').on('access_requests').columns(['staff_id', 'id']).execute();

    await db.schema
      .createTable('access_grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('request_id', 'text', (c) => c.notNull().unique().references('access_requests.id'))
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('staff_id', 'text', (c) => c.notNull().references('staff.id'))
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('justification', 'text', (c) => c.notNull())
      .addColumn('break_glass', 'integer', (c) => c.notNull())
      .addColumn('starts_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('revoked_by_type', 'text')
      .addColumn('revoked_by', 'text')
      .execute();
    // The lookup behind every staff data request: this staff member's grants for this tenant.
    await db.schema.createIndex('access_grants_staff_tenant').on('access_grants').columns(['staff_id', 'tenant_id', 'expires_at']).execute();
    await db.schema.createIndex('access_grants_tenant').on('access_grants').columns(['tenant_id', 'id']).execute();

    await db.schema.alterTable('tenant_settings').addColumn('staff_access', 'text').execute();
    await db.schema.alterTable('tenant_settings').addColumn('staff_access_max_minutes', 'integer').execute();
    await db.schema.createIndex('security_events_actor').on('security_events').columns(['actor_type', 'at']).execute();
  },
};

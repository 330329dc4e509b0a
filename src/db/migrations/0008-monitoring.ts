import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Monitoring: security events gain the blind index of their source (IPv4 address or IPv6 /64), so
 * rules can count failures per source without decrypting addresses; alerts, with one open alert per
 * (rule, subject) enforced by the database itself, so two nodes can never raise the same incident
 * twice; a persistent, retried webhook queue; and leases, so one node at a time runs a worker.
 */
export const monitoring: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('security_events').addColumn('source_index', 'text').execute();
    await db.schema.createIndex('security_events_type_at').on('security_events').columns(['type', 'at']).execute();

    await db.schema
      .createTable('alerts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('rule', 'text', (c) => c.notNull())
      /** A blind index of what the alert is about (an account, a source, a tenant): the de-duplication key. */
      .addColumn('subject_index', 'text', (c) => c.notNull())
      .addColumn('subject_enc', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('opened_at', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('occurrences', 'integer', (c) => c.notNull())
      .addColumn('details_enc', 'text')
      .addColumn('acknowledged_at', 'text')
      .addColumn('acknowledged_by', 'text')
      .addColumn('resolved_at', 'text')
      .addColumn('resolved_by', 'text')
      .execute();
    // At most one alert per (rule, subject) that is not resolved: the incident's one alert, on any number of nodes.
    await sql`CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, subject_index) WHERE state <> 'resolved'`.execute(db);
    await db.schema.createIndex('alerts_state').on('alerts').columns(['state', 'id']).execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id'))
      .addColumn('payload_enc', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'text', (c) => c.notNull())
      .addColumn('claimed_until', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').column('next_attempt_at').execute();

    await db.schema
      .createTable('worker_leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
  },
};

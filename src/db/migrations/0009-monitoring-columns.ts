import type { Kysely, Migration } from 'kysely';

/**
 * Monitoring, second pass. A failed password sign-in's event gains `target_index`, a blind index of
 * the e-mail address tried (never the address), so `credential-stuffing` counts addresses, not
 * failures against unknown ones. And each node records the TLS certificate it serves in
 * `node_certificates`, so `certificate-expiring` checks every node's, not only the lease holder's.
 * `records` lets `staff-bulk-reading` count records read, not requests.
 */
export const monitoringColumns: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // Only counted inside one source's group (type, at already indexed): it needs no index of its own.
    await db.schema.alterTable('security_events').addColumn('target_index', 'text').execute();
    // Customer records a staff action returned or changed (`staff.grant.used`): staff-bulk-reading sums them.
    await db.schema.alterTable('security_events').addColumn('records', 'integer').execute();

    await db.schema
      .createTable('node_certificates')
      /** The node's id for the monitor lease (host, process, random): one row per running node. */
      .addColumn('node_id', 'text', (c) => c.primaryKey())
      .addColumn('listener', 'text', (c) => c.notNull())
      /** SHA-256 of the certificate (DER), as `openssl x509 -fingerprint -sha256` prints it. Public: the certificate is. */
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('seen_at', 'text', (c) => c.notNull())
      .execute();
  },
};

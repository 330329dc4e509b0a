import type { DB } from '../db/schema.js';
import type { ValueLocation } from './cipher.js';
import { SYSTEM_OWNER } from './key-ring.js';

/**
 * Every value Confide encrypts, in one list: where it rests, whose key seals it, and the location
 * its AAD binds it to (src/keys/cipher.ts). Writers and readers build locations only through this
 * list, so a ciphertext is bound the same way everywhere; key rotation, re-encryption, the crypto
 * inventory and the at-rest canary test iterate it.
 *
 * The location strings are part of every stored ciphertext's AAD: changing one makes existing
 * values undecryptable. encrypted-fields.test.ts pins each of them.
 */

/** Who owns the key: the system key, or the tenant whose id is in `tenantColumn` of the row. */
export type FieldOwner<Row> = { kind: 'system' } | { kind: 'tenant'; tenantColumn: keyof Row & string };

interface FieldSpec<Row, Used extends keyof Row> {
  /** Columns the location reads, so a re-encryption job knows what to select with the value. */
  locationColumns: readonly Used[];
  owner: FieldOwner<Row>;
  location(row: Pick<Row, Used>): ValueLocation;
}

/** A `_enc` column of a table. */
export interface EncryptedColumn<T extends keyof DB, Used extends keyof DB[T]> extends FieldSpec<DB[T], Used> {
  kind: 'column';
  table: T;
  column: keyof DB[T] & `${string}_enc`;
  /** The table's primary key, to update a value in place when it is sealed again. */
  primaryKey: ReadonlyArray<keyof DB[T] & string>;
}

/** A sealed value that rests outside the database (a file), named by the AAD table it uses. */
export interface EncryptedFile extends FieldSpec<{ id: string }, 'id'> {
  kind: 'file';
  name: string;
}

/** Any entry, as code that walks the whole registry sees it. */
export type EncryptedField =
  | {
      kind: 'column';
      table: keyof DB;
      column: string;
      primaryKey: readonly string[];
      locationColumns: readonly string[];
      owner: { kind: 'system' } | { kind: 'tenant'; tenantColumn: string };
      location(row: Record<string, unknown>): ValueLocation;
    }
  | {
      kind: 'file';
      name: string;
      locationColumns: readonly string[];
      owner: { kind: 'system' };
      location(row: Record<string, unknown>): ValueLocation;
    };

function column<T extends keyof DB, Used extends keyof DB[T]>(spec: Omit<EncryptedColumn<T, Used>, 'kind'>): EncryptedColumn<T, Used> {
  return Object.freeze({ kind: 'column', ...spec });
}

const SYSTEM = { kind: 'system' } as const;

export const ENCRYPTED_FIELDS = Object.freeze({
  tenantsName: column({
    table: 'tenants',
    column: 'name_enc',
    owner: { kind: 'tenant', tenantColumn: 'id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'tenants', rowId: row.id, field: 'name' }),
  }),
  usersEmail: column({
    table: 'users',
    column: 'email_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'users', rowId: row.id, field: 'email' }),
  }),
  sessionsIp: column({
    table: 'sessions',
    column: 'ip_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'sessions', rowId: row.id, field: 'ip' }),
  }),
  sessionsUserAgent: column({
    table: 'sessions',
    column: 'user_agent_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'sessions', rowId: row.id, field: 'userAgent' }),
  }),
  totpFactorsSecret: column({
    table: 'totp_factors',
    column: 'secret_enc',
    owner: SYSTEM,
    primaryKey: ['user_id'],
    locationColumns: ['user_id'],
    location: (row) => ({ table: 'totp_factors', rowId: row.user_id, field: 'secret' }),
  }),
  mailQueueMessage: column({
    table: 'mail_queue',
    column: 'message_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'mail_queue', rowId: row.id, field: 'message' }),
  }),
  securityEventsIp: column({
    table: 'security_events',
    column: 'ip_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'security_events', rowId: row.id, field: 'ip' }),
  }),
  securityEventsDetails: column({
    table: 'security_events',
    column: 'details_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'security_events', rowId: row.id, field: 'details' }),
  }),
  apiKeysName: column({
    table: 'api_keys',
    column: 'name_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['tenant_id', 'id'],
    location: (row) => ({ table: 'api_keys', rowId: `${row.tenant_id}/${row.id}`, field: 'name' }),
  }),
  invitationsEmail: column({
    table: 'invitations',
    column: 'email_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'invitations', rowId: row.id, field: 'email' }),
  }),
  recordsData: column({
    table: 'records',
    column: 'data_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['tenant_id', 'collection', 'id'],
    locationColumns: ['collection', 'id'],
    location: (row) => ({ table: 'records', rowId: `${row.collection}/${row.id}`, field: 'data' }),
  }),
  // PostgreSQL may hand a bigint `seq` back as a string: Number() keeps the AAD the same.
  accessLogIp: column({
    table: 'access_log',
    column: 'ip_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['tenant_id', 'seq'],
    locationColumns: ['tenant_id', 'seq'],
    location: (row) => ({ table: 'access_log', rowId: `${row.tenant_id}/${Number(row.seq)}`, field: 'ip' }),
  }),
  accessLogDetails: column({
    table: 'access_log',
    column: 'details_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['tenant_id', 'seq'],
    locationColumns: ['tenant_id', 'seq'],
    location: (row) => ({ table: 'access_log', rowId: `${row.tenant_id}/${Number(row.seq)}`, field: 'details' }),
  }),
  staffEmail: column({
    table: 'staff',
    column: 'email_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'staff', rowId: row.id, field: 'email' }),
  }),
  staffSessionsIp: column({
    table: 'staff_sessions',
    column: 'ip_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'staff_sessions', rowId: row.id, field: 'ip' }),
  }),
  staffTotpSecret: column({
    table: 'staff_totp_factors',
    column: 'secret_enc',
    owner: SYSTEM,
    primaryKey: ['staff_id'],
    locationColumns: ['staff_id'],
    location: (row) => ({ table: 'staff_totp_factors', rowId: row.staff_id, field: 'secret' }),
  }),
  // What staff and tenant admins write about a staff access (src/staff-access) is under the tenant's
  // key, not the system's: it is about the tenant's matter and may quote its data, the tenant reads
  // it, its key rotation re-seals it, and deleting the tenant shreds it with everything else.
  accessRequestsReason: column({
    table: 'access_requests',
    column: 'reason_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'access_requests', rowId: row.id, field: 'reason' }),
  }),
  accessRequestsTicket: column({
    table: 'access_requests',
    column: 'ticket_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'access_requests', rowId: row.id, field: 'ticket' }),
  }),
  accessRequestsDecisionReason: column({
    table: 'access_requests',
    column: 'decision_reason_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'access_requests', rowId: row.id, field: 'decisionReason' }),
  }),
  accessRequestsReviewNotes: column({
    table: 'access_requests',
    column: 'review_notes_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'access_requests', rowId: row.id, field: 'reviewNotes' }),
  }),
  alertsSubject: column({
    table: 'alerts',
    column: 'subject_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'alerts', rowId: row.id, field: 'subject' }),
  }),
  alertsDetails: column({
    table: 'alerts',
    column: 'details_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'alerts', rowId: row.id, field: 'details' }),
  }),
  webhookDeliveriesPayload: column({
    table: 'webhook_deliveries',
    column: 'payload_enc',
    owner: SYSTEM,
    primaryKey: ['id'],
    locationColumns: ['id'],
    location: (row) => ({ table: 'webhook_deliveries', rowId: row.id, field: 'payload' }),
  }),
  // The key of a file attached to a record (src/files/), with its content type and SHA-256. The
  // blob itself rests sealed under that key (src/lib/stream-aead.ts): rotation re-seals this value,
  // never the blob; the upload id binds the key to one upload of the name.
  recordFilesKey: column({
    table: 'record_files',
    column: 'key_enc',
    owner: { kind: 'tenant', tenantColumn: 'tenant_id' },
    primaryKey: ['tenant_id', 'collection', 'record_id', 'name'],
    locationColumns: ['collection', 'record_id', 'name', 'upload_id'],
    location: (row) => ({ table: 'record_files', rowId: `${row.collection}/${row.record_id}/${row.name}/${row.upload_id}`, field: 'key' }),
  }),
  /** Delivered mail in the outbox folder (src/mail/outbox-file.ts): one file per message id. */
  outboxEml: Object.freeze<EncryptedFile>({
    kind: 'file',
    name: 'outbox',
    owner: SYSTEM,
    locationColumns: ['id'],
    location: (row) => ({ table: 'outbox', rowId: row.id, field: 'eml' }),
  }),
});

export type EncryptedFieldName = keyof typeof ENCRYPTED_FIELDS;

/** The registry as a list, for whatever walks every encrypted value (rotation, inventory, tests). */
export function encryptedFields(): Array<[EncryptedFieldName, EncryptedField]> {
  return Object.entries(ENCRYPTED_FIELDS) as unknown as Array<[EncryptedFieldName, EncryptedField]>;
}

/** The key owner of one value: `system`, or the tenant id read from its row. */
export function ownerOf(field: EncryptedField, row: Record<string, unknown>): string {
  return field.owner.kind === 'system' ? SYSTEM_OWNER : String(row[field.owner.tenantColumn]);
}

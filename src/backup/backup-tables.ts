import type { DB } from '../db/schema.js';

/**
 * Every table a backup carries, parents before children so a load satisfies each foreign key as it
 * goes (this is the order the migrations create them in, and none references a later one).
 * Adding a table to the schema without deciding here fails to compile (`Undecided` below) and
 * fails test/backup/backup-tables.test.ts, which compares this list with a migrated database.
 */
export const BACKUP_TABLES = [
  'system_meta',
  'key_ring',
  'tenants',
  'users',
  'memberships',
  'sessions',
  'collections',
  'records',
  'access_log',
  'access_log_heads',
  'signin_throttle',
  'mail_queue',
  'totp_factors',
  'recovery_codes',
  'mfa_challenges',
  'api_keys',
  'invitations',
  'tenant_settings',
  'password_resets',
  'security_events',
  'webauthn_credentials',
  'webauthn_challenges',
  'email_verifications',
  'staff',
  'staff_enrolments',
  'staff_totp_factors',
  'staff_recovery_codes',
  'staff_mfa_challenges',
  'staff_sessions',
  'staff_policies',
  'staff_policy_acknowledgements',
  'access_requests',
  'access_grants',
  'alerts',
  'webhook_deliveries',
  'key_rotations',
  'signing_keys',
  'access_log_checkpoints',
  'record_files',
] as const satisfies readonly (keyof DB)[];

/**
 * Tables deliberately left out, node-local runtime state a restored deployment starts without:
 * `worker_leases` (which node runs which background worker until when: its nodes take leases anew) and
 * `node_certificates` (the TLS certificate each live node serves, recorded at each monitor tick: the
 * old machines' would otherwise raise certificate alerts for nodes that no longer exist).
 * Kysely's own `kysely_migration*` tables are not in DB; the dump's `schema` line carries the level.
 */
export const TABLES_NOT_BACKED_UP = ['worker_leases', 'node_certificates'] as const satisfies readonly (keyof DB)[];

export type BackupTable = (typeof BACKUP_TABLES)[number];

// Compile-time guard: a table of DB in neither list makes this `true` type fail to accept `true`.
type Undecided = Exclude<keyof DB, BackupTable | (typeof TABLES_NOT_BACKED_UP)[number]>;
const everyTableDecided: [Undecided] extends [never] ? true : Undecided = true;
void everyTableDecided;

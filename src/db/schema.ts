import type { Generated } from 'kysely';
import type { CheckpointTables } from './checkpoint-schema.js';
import type { KeyLifecycleTables } from './key-lifecycle-schema.js';
export type { KeyRotationsTable } from './key-lifecycle-schema.js';
import type { MonitoringTables } from './monitoring-schema.js';
import type { StaffTables } from './staff-schema.js';
import type { RecordFilesTables } from './record-files-schema.js';

/**
 * The tables as Kysely sees them. Columns ending in `_enc` hold application-encrypted
 * ciphertext (see src/keys/envelope-format.ts); `_index` columns hold blind indexes (keyed HMACs).
 * Times are ISO-8601 UTC strings in both dialects, so they sort and compare the same way.
 */
export interface KeyRingTable {
  id: string;
  /** 'system' or a tenant id. */
  owner: string;
  purpose: 'data' | 'index';
  version: number;
  algorithm: string;
  /** Erased ('') once the version is destroyed. */
  wrapped_key: string;
  master_key_id: string;
  created_at: string;
  /**
   * Migration 0010: 'active' seals new values; 'retired' still opens old ones; 'destroyed' opens
   * nothing. 'next' (0012): made ahead of the next rotation; it opens values but seals none yet.
   */
  state: Generated<'next' | 'active' | 'retired' | 'destroyed'>;
  /** Migration 0012: when the version began to seal (null: active before 0012, see created_at). */
  activated_at: string | null;
  retired_at: string | null;
  destroyed_at: string | null;
  /** Migration 0010: what wrapped `wrapped_key`: the master key, or the tenant's TKEK held outside the database (tenant-key-store.ts). */
  wrapped_by: Generated<'master' | 'tenant'>;
}


export interface TenantsTable {
  id: string;
  name_enc: string;
  created_at: string;
}

export interface UsersTable {
  id: string;
  email_enc: string;
  email_index: string;
  password_hash: string;
  created_at: string;
  disabled_at: string | null;
  /** Null until the user proves the address (a link by e-mail, or accepting an invitation). */
  email_verified_at: string | null;
}

export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  role: 'owner' | 'admin' | 'member';
  created_at: string;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  tenant_id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
  verified_at: string | null;
  ip_enc: string | null;
  user_agent_enc: string | null;
}

export interface EmailVerificationsTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface PasswordResetsTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface SecurityEventsTable {
  id: string;
  /** Null for events that belong to no tenant (an unknown account's failed sign-in): operators see those. */
  tenant_id: string | null;
  at: string;
  type: string;
  outcome: string;
  user_id: string | null;
  ip_enc: string | null;
  details_enc: string | null;
  /** Who acted: `member`, `apiKey`, `staff` or `system` (null in rows older than the column: see user_id). */
  actor_type: string | null;
  actor_id: string | null;
  /** Blind index of the source (IPv4 address or IPv6 /64, lib/client-source.ts): rules count per source without decrypting. Null before migration 0008. */
  source_index: string | null;
  /** Blind index of the normalised e-mail address a failed password sign-in tried (`signin.password`, `staff.signin.password`): credential stuffing counts addresses. Null for other events and before migration 0009. */
  target_index: string | null;
  /** Customer records the action returned or changed (`staff.grant.used`), in clear so the monitor sums them; null for other events and before migration 0009. */
  records: number | null;
}

export interface MailQueueTable {
  id: string;
  /** The whole message (to, subject, text), encrypted under the system key. */
  message_enc: string;
  attempts: number;
  next_attempt_at: string;
  claimed_until: string | null;
  last_error: string | null;
  created_at: string;
}

export interface TotpFactorsTable {
  user_id: string;
  secret_enc: string;
  confirmed_at: string | null;
  last_used_step: number | null;
  created_at: string;
}

export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: string | null;
  created_at: string;
}

export interface MfaChallengesTable {
  id: string;
  token_hash: string;
  user_id: string;
  tenant_id: string;
  attempts: number;
  expires_at: string;
  used_at: string | null;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name_enc: string;
  prefix: string;
  key_hash: string;
  scope: 'read' | 'read-write';
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface InvitationsTable {
  id: string;
  tenant_id: string;
  email_enc: string;
  email_index: string;
  role: 'owner' | 'admin' | 'member';
  token_hash: string;
  invited_by: string;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  revoked_at: string | null;
}

export interface TenantSettingsTable {
  tenant_id: string;
  /** 0 or 1 (a portable boolean). */
  require_mfa: number;
  session_idle_seconds: number | null;
  session_absolute_seconds: number | null;
  updated_at: string;
  /** `approval_required` (null: the default), `notify` or `deny`: how staff may reach the tenant. */
  staff_access: 'approval_required' | 'notify' | 'deny' | null;
  /** Longest grant the tenant accepts, in minutes (null: 120). */
  staff_access_max_minutes: number | null;
}

export interface WebauthnCredentialsTable {
  id: string;
  user_id: string;
  /** The authenticator's credential id, base64url. */
  credential_id: string;
  /** COSE public key, base64url (public: nothing secret here). */
  public_key: string;
  counter: number | string;
  /** JSON array of transport hints. */
  transports: string;
  created_at: string;
  last_used_at: string | null;
}

export interface WebauthnChallengesTable {
  id: string;
  user_id: string;
  purpose: 'register' | 'authenticate';
  challenge: string;
  expires_at: string;
  used_at: string | null;
}

export interface CollectionsTable {
  tenant_id: string;
  name: string;
  created_at: string;
}

export interface RecordsTable {
  tenant_id: string;
  collection: string;
  id: string;
  data_enc: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface AccessLogTable {
  tenant_id: string;
  seq: number;
  at: string;
  actor_type: string;
  actor_id: string;
  action: string;
  resource_type: string;
  resource_collection: string | null;
  resource_id: string | null;
  grant_id: string | null;
  justification: string | null;
  ip_enc: string | null;
  details_enc: string | null;
  prev_hash: string;
  hash: string;
}

export interface AccessLogHeadsTable {
  tenant_id: string;
  seq: number;
  hash: string;
}

export interface SignInThrottleTable {
  key: string;
  failures: number;
  last_failure_at: string;
  blocked_until: string | null;
}

export interface SystemMetaTable {
  key: string;
  value: string;
}

export interface DB extends StaffTables, MonitoringTables, CheckpointTables, KeyLifecycleTables, RecordFilesTables {
  key_ring: KeyRingTable;
  tenants: TenantsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  collections: CollectionsTable;
  records: RecordsTable;
  access_log: AccessLogTable;
  access_log_heads: AccessLogHeadsTable;
  signin_throttle: SignInThrottleTable;
  system_meta: SystemMetaTable;
  mail_queue: MailQueueTable;
  totp_factors: TotpFactorsTable;
  recovery_codes: RecoveryCodesTable;
  mfa_challenges: MfaChallengesTable;
  api_keys: ApiKeysTable;
  invitations: InvitationsTable;
  tenant_settings: TenantSettingsTable;
  password_resets: PasswordResetsTable;
  email_verifications: EmailVerificationsTable;
  security_events: SecurityEventsTable;
  webauthn_credentials: WebauthnCredentialsTable;
  webauthn_challenges: WebauthnChallengesTable;
}

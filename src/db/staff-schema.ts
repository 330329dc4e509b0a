/**
 * The staff-access tables (migration 0007), apart from schema.ts so each file stays readable.
 * Staff are their own realm: none of these rows points at a customer's user.
 */
export type StaffRole = 'support' | 'security-admin';

export interface StaffTable {
  id: string;
  email_enc: string;
  email_index: string;
  role: StaffRole;
  /** Null until enrolment sets it. */
  password_hash: string | null;
  created_at: string;
  /** Set when enrolment is confirmed with a second factor: only then can the staff member sign in. */
  enrolled_at: string | null;
  disabled_at: string | null;
}

export interface StaffEnrolmentsTable {
  id: string;
  staff_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface StaffTotpFactorsTable {
  staff_id: string;
  secret_enc: string;
  confirmed_at: string | null;
  last_used_step: number | null;
  created_at: string;
}

export interface StaffRecoveryCodesTable {
  id: string;
  staff_id: string;
  code_hash: string;
  used_at: string | null;
  created_at: string;
}

export interface StaffMfaChallengesTable {
  id: string;
  token_hash: string;
  staff_id: string;
  attempts: number;
  expires_at: string;
  used_at: string | null;
}

export interface StaffSessionsTable {
  id: string;
  token_hash: string;
  staff_id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
  ip_enc: string | null;
}

export interface StaffPoliciesTable {
  version: number;
  title: string;
  body: string;
  published_at: string;
  published_by: string;
}

export interface StaffPolicyAcknowledgementsTable {
  staff_id: string;
  version: number;
  acknowledged_at: string;
}

export type AccessScope = 'metadata' | 'read' | 'read-write';
export type AccessJustification = 'CUSTOMER_INITIATED_SUPPORT' | 'INCIDENT_RESPONSE' | 'SECURITY_INVESTIGATION' | 'LEGAL_REQUIREMENT';
/** `expired` and `revoked` are derived from the grant when read; stored statuses are these. */
export type StoredRequestStatus = 'pending' | 'active' | 'denied';

export interface AccessRequestsTable {
  id: string;
  tenant_id: string;
  staff_id: string;
  scope: AccessScope;
  justification: AccessJustification;
  reason_enc: string;
  ticket_enc: string | null;
  duration_minutes: number;
  /** 0 or 1. */
  break_glass: number;
  status: StoredRequestStatus;
  created_at: string;
  decided_at: string | null;
  /** `member` (a tenant owner or admin), `staff` (a security-admin, for break-glass) or `system` (notify mode). */
  decided_by_type: string | null;
  decided_by: string | null;
  decision_reason_enc: string | null;
  reviewed_at: string | null;
  reviewed_by: string | null;
  review_notes_enc: string | null;
}

export interface AccessGrantsTable {
  id: string;
  request_id: string;
  tenant_id: string;
  staff_id: string;
  scope: AccessScope;
  justification: AccessJustification;
  break_glass: number;
  starts_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_by_type: string | null;
  revoked_by: string | null;
}

export interface StaffTables {
  staff: StaffTable;
  staff_enrolments: StaffEnrolmentsTable;
  staff_totp_factors: StaffTotpFactorsTable;
  staff_recovery_codes: StaffRecoveryCodesTable;
  staff_mfa_challenges: StaffMfaChallengesTable;
  staff_sessions: StaffSessionsTable;
  staff_policies: StaffPoliciesTable;
  staff_policy_acknowledgements: StaffPolicyAcknowledgementsTable;
  access_requests: AccessRequestsTable;
  access_grants: AccessGrantsTable;
}

/** The monitoring tables (migrations 0008 and 0009), apart from schema.ts so each file stays readable. */
export type AlertState = 'open' | 'acknowledged' | 'resolved';
export type AlertSeverity = 'low' | 'medium' | 'high' | 'critical';

export interface AlertsTable {
  id: string;
  /** The rule's name (docs/monitoring.md). */
  rule: string;
  /** Blind index of the subject (an account, a source, a tenant, the certificate): the de-duplication key. */
  subject_index: string;
  /** The subject as people read it, sealed under the system key. */
  subject_enc: string;
  severity: AlertSeverity;
  state: AlertState;
  opened_at: string;
  /** When the condition was last seen true: an alert resolves itself once it is not, for a while. */
  last_seen_at: string;
  /** How many evaluations found the condition true while the alert was not resolved. */
  occurrences: number;
  details_enc: string | null;
  acknowledged_at: string | null;
  /** A staff id, or `system`. */
  acknowledged_by: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  alert_id: string;
  /** The JSON body to POST, sealed under the system key. */
  payload_enc: string;
  attempts: number;
  next_attempt_at: string;
  claimed_until: string | null;
  last_error: string | null;
  created_at: string;
}

/** One node at a time runs a worker that must not run twice (the monitor): it holds the lease. */
export interface WorkerLeasesTable {
  name: string;
  holder: string;
  expires_at: string;
}

/**
 * The TLS certificate each running node serves (migration 0009), so the monitor, on whichever node
 * holds its lease, checks every node's. A node refreshes its row at every monitor tick and deletes
 * it when it stops; a row not refreshed for a while is a node that died, and is ignored.
 */
export interface NodeCertificatesTable {
  node_id: string;
  /** Which listeners serve it (`public, admin`). */
  listener: string;
  /** SHA-256 of the certificate's DER, colon-separated upper-case hex (`openssl x509 -fingerprint -sha256`). */
  fingerprint: string;
  expires_at: string;
  seen_at: string;
}

export interface MonitoringTables {
  alerts: AlertsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  worker_leases: WorkerLeasesTable;
  node_certificates: NodeCertificatesTable;
}

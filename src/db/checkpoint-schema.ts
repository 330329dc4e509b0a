/** Migration 0011: the keys that sign access-log checkpoints, and the checkpoints. */
export interface SigningKeysTable {
  id: string;
  version: number;
  /** First 16 hex characters of SHA-256 of the raw public key. */
  key_id: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  public_key: string;
  /** The private seed wrapped under the master key (AAD `confide:signing-key:<version>`). */
  wrapped_private_key: string;
  master_key_id: string;
  created_at: string;
  retired_at: string | null;
}

export interface AccessLogCheckpointsTable {
  tenant_id: string;
  seq: number;
  hash: string;
  at: string;
  key_id: string;
  signature: string;
}

export interface CheckpointTables {
  signing_keys: SigningKeysTable;
  access_log_checkpoints: AccessLogCheckpointsTable;
}

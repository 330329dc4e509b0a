/** Migration 0013: files attached to records (src/files/). */
export interface RecordFilesTable {
  tenant_id: string;
  collection: string;
  record_id: string;
  /** The name in the URL (`…/files/{name}`): a path segment, not encrypted, like a collection name. */
  name: string;
  upload_id: string;
  /** The blob's name in the blob store (random; no customer text). */
  storage_id: string;
  /** Plaintext bytes. PostgreSQL's bigint may come back as a string. */
  size: number | string;
  /** The file key (32 bytes), content type and SHA-256, sealed by the tenant's data key. */
  key_enc: string;
  uploaded_at: string;
}

export interface RecordFilesTables {
  record_files: RecordFilesTable;
}

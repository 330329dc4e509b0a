import type { BackupSource } from './archive-header.js';
import type { TableSummary } from './dump-format.js';

/**
 * What a backup holds, counted while it was written: the last frame of the archive, and again as
 * `backups/<id>.manifest` (there with `archive`, the bytes and sha256 of the whole `.cbk` object,
 * which the archive cannot hold of itself), so `backup list` and verify read counts without the archive.
 */
export interface BackupManifest {
  format: 'confide-backup-v1';
  id: string;
  createdAt: string;
  finishedAt: string;
  source: BackupSource;
  tenants: number;
  tables: TableSummary[];
  files: { count: number; bytes: number };
  /** Blobs a `record_files` row named that the blob store no longer had (deleted after the snapshot). */
  missingBlobs: Array<{ tenantId: string; storageId: string }>;
  /** sha256 of the sentinel's plaintext, written into system_meta just before the snapshot. */
  sentinel: { sha256: string };
  archive?: { bytes: number; sha256: string };
}

/** The `.verified` marker: a verification passed, where and when. */
export interface VerifiedMarker {
  id: string;
  verifiedAt: string;
  node: string;
  /** The sha256 of the `.cbk` that passed: a marker says nothing of another archive put under the same name. */
  archiveSha256: string;
}

export const archiveName = (id: string) => `backups/${id}.cbk`;
export const manifestName = (id: string) => `backups/${id}.manifest`;
export const verifiedName = (id: string) => `backups/${id}.verified`;

import { isAbsolute } from 'node:path';
import { FolderObjectStore } from './folder-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';
import type { S3Settings } from '../config/s3-settings.js';

/**
 * The store a target string names (CONFIDE_BACKUP_TARGET): an absolute folder, or
 * `s3://bucket/prefix`. The configuration already made a relative folder absolute.
 */
export function openObjectStore(target: string, s3: S3Settings = { forcePathStyle: false }): ObjectStore {
  // `s3`: config.s3 (the AWS_* variables); without it the SDK's own defaults apply.
  if (target.startsWith('s3://')) return new S3ObjectStore(target, s3);
  if (!isAbsolute(target)) throw new Error(`the backup target must be an absolute folder or s3://bucket/prefix, not ${JSON.stringify(target)}`);
  return new FolderObjectStore(target);
}

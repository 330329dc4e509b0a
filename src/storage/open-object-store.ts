import { isAbsolute } from 'node:path';
import { DeferredObjectStore } from './deferred-object-store.js';
import { FolderObjectStore } from './folder-object-store.js';
import type { ObjectStore } from './object-store.js';
import { describeS3Location, parseS3Target } from './s3-location.js';
import type { S3Settings } from '../config/s3-settings.js';

/**
 * The store a target string names (CONFIDE_BACKUP_TARGET): an absolute folder, or
 * `s3://bucket/prefix`. The configuration already made a relative folder absolute.
 */
export function openObjectStore(target: string, s3: S3Settings = { forcePathStyle: false }): ObjectStore {
  // `s3`: config.s3 (the AWS_* variables); without it the SDK's own defaults apply.
  if (target.startsWith('s3://')) return openS3ObjectStore(target, s3);
  if (!isAbsolute(target)) throw new Error(`the backup target must be an absolute folder or s3://bucket/prefix, not ${JSON.stringify(target)}`);
  return new FolderObjectStore(target);
}

/**
 * The S3 store at `s3://bucket/prefix`, its target checked now and the AWS SDK loaded on first use
 * (deferred-object-store.ts says why): a process that never reaches the bucket never loads it.
 */
export function openS3ObjectStore(target: string, s3: S3Settings): DeferredObjectStore {
  return new DeferredObjectStore(describeS3Location(parseS3Target(target)), async () => {
    const { S3ObjectStore } = await import('./s3-object-store.js');
    return new S3ObjectStore(target, s3);
  });
}

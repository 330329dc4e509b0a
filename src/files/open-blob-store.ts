import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { openS3ObjectStore } from '../storage/open-object-store.js';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-blob-store.js';
import { ObjectBlobStore } from './object-blob-store.js';

/** The blob store CONFIDE_BLOB_STORE names: the data directory's `files/` folder, or an S3 bucket under a prefix. */
export function openBlobStore(config: Readonly<Config>): BlobStore {
  if (config.files.store === 'local') return new LocalBlobStore(join(config.dataDir, 'files'));
  return new ObjectBlobStore(openS3ObjectStore(config.files.store, config.s3));
}

import type { Services } from '../app/services.js';
import type { ObjectStore } from '../storage/object-store.js';

/** What the backups service uses of a deployment's services, plus its target. */
export type BackupsDeps = Pick<Services, 'config' | 'db' | 'dialect' | 'masterKey' | 'keyRing' | 'tenantKeys' | 'clock' | 'fileBlobs' | 'securityEvents'> & {
  store: ObjectStore;
  /** This node's name in a backup's source and its `.verified` marker (the host name). */
  node: string;
  /** Confide's version, recorded in each archive's source. */
  release: string;
};

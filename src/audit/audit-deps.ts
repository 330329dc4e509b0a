import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import type { Clock } from '../lib/time.js';
import type { AccessLogCheckpoints } from './access-log-checkpoints.js';
import type { AccessLog } from './access-log.js';

/** What reading and verifying a tenant's access log needs. */
export interface AccessLogQueriesDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  keyRing: KeyRing;
  accessLog: AccessLog;
  checkpoints: AccessLogCheckpoints;
  signingKeys: SigningKeys;
  clock: Clock;
}

import type { Config } from '../config/config.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { AccessLog } from './access-log.js';

/** What reading and verifying a tenant's access log needs. */
export interface AccessLogQueriesDeps {
  config: Readonly<Config>;
  db: Kysely<DB>;
  keyRing: KeyRing;
  accessLog: AccessLog;
}

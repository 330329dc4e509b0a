import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { KeyRing } from '../keys/key-ring.js';

/** What listing a tenant's stored security events needs. */
export interface SecurityEventQueryDeps {
  db: Kysely<DB>;
  keyRing: KeyRing;
  /** For the byte bound of a page (CONFIDE_LIST_MAX_BYTES). */
  config: { lists: { maxBytes: number } };
}

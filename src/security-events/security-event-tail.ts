import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { eventOf, type StoredStaffEvent } from './security-event-store.js';

/**
 * Security events of every tenant for an operator on the host (`confide events tail`), oldest
 * first: the latest `limit` of them, or, with `afterId`, up to `limit` stored after that one.
 * Ids are UUIDv7, so their order is the order events were stored in (on one node; across nodes,
 * to within their clocks' skew).
 */
export async function tailSecurityEvents(db: Kysely<DB>, cipher: Cipher, options: { limit: number; afterId?: string }): Promise<StoredStaffEvent[]> {
  const { afterId } = options;
  const rows =
    afterId === undefined
      ? (await db.selectFrom('security_events').selectAll().orderBy('id', 'desc').limit(options.limit).execute()).reverse()
      : await db.selectFrom('security_events').selectAll().where('id', '>', afterId).orderBy('id', 'asc').limit(options.limit).execute();
  return rows.map((row) => ({ ...eventOf(cipher, row), tenantId: row.tenant_id }));
}

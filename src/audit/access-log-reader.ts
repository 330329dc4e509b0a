import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import type { AccessLogEntry, ActorType } from './access-event.js';
import { rowToEntry } from './access-log-rows.js';

export interface AccessLogPage {
  items: AccessLogEntry[];
  nextSeq: number | null;
}

/** Reads a tenant's entries in chain order (oldest first), after `afterSeq`. */
export async function readAccessLogPage(
  db: Kysely<DB>,
  tenantId: string,
  cipher: Cipher,
  options: { afterSeq: number; limit: number; actorType?: ActorType },
): Promise<AccessLogPage> {
  let query = db
    .selectFrom('access_log')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('seq', '>', options.afterSeq)
    .orderBy('seq', 'asc')
    .limit(options.limit + 1);
  if (options.actorType) query = query.where('actor_type', '=', options.actorType);
  const rows = await query.execute();
  const page = rows.slice(0, options.limit).map((row) => rowToEntry(row, cipher));
  return { items: page, nextSeq: rows.length > options.limit ? page[page.length - 1]!.seq : null };
}

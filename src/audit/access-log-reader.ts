import type { Kysely, Selectable } from 'kysely';
import type { AccessLogTable, DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { fillPage } from '../lib/page-budget.js';
import type { AccessLogEntry, ActorType } from './access-event.js';
import { rowToEntry } from './access-log-rows.js';

export interface AccessLogPage {
  items: AccessLogEntry[];
  nextSeq: number | null;
}

/**
 * Reads a tenant's entries in chain order (oldest first), after `afterSeq`: at most `limit`, and
 * ending early before the page's JSON would pass `maxBytes` (always at least one entry), since
 * entries vary in size (a `list` entry names up to 200 ids). `longestCursor` is the longest cursor
 * the page may carry.
 */
export async function readAccessLogPage(
  db: Kysely<DB>,
  tenantId: string,
  cipher: Cipher,
  options: { afterSeq: number; limit: number; maxBytes: number; longestCursor: string; actorType?: ActorType },
): Promise<AccessLogPage> {
  const page = await fillPage({
    limit: options.limit,
    maxBytes: options.maxBytes,
    longestCursor: options.longestCursor,
    read: (after: Selectable<AccessLogTable> | undefined, count) => {
      let query = db
        .selectFrom('access_log')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('seq', '>', after === undefined ? options.afterSeq : Number(after.seq))
        .orderBy('seq', 'asc')
        .limit(count);
      if (options.actorType) query = query.where('actor_type', '=', options.actorType);
      return query.execute();
    },
    toItem: (row) => rowToEntry(row, cipher),
  });
  return { items: page.items, nextSeq: page.more && page.lastRow ? Number(page.lastRow.seq) : null };
}

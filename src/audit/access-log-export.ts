import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import type { AccessLogCheckpoints } from './access-log-checkpoints.js';
import { rowToEntry } from './access-log-rows.js';
import type { Checkpoint } from './checkpoint-signature.js';

/** The first line's `format`: a verifier refuses any other. */
export const EXPORT_FORMAT = 'confide-access-log-export-v1';
const PAGE = 500;

/**
 * A tenant's log as NDJSON, one line at a time, so an export of any length takes the memory of one
 * page: a header, every entry from seq 1 to `last.seq` with all that its hash covers (the entry as
 * GET /v1/access-log shows it, with `prevHash` and `hash`), each checkpoint right after the entry
 * it signs, and a trailer with the counts. The export ends at `last`, a checkpoint signed for it,
 * so its whole content is signed and a cut tail shows offline.
 */
export async function* accessLogExportLines(
  db: Kysely<DB>,
  tenantId: string,
  cipher: Cipher,
  checkpoints: AccessLogCheckpoints,
  last: Checkpoint,
  exportedAt: string,
): AsyncGenerator<string> {
  yield line({ type: 'header', format: EXPORT_FORMAT, tenantId, exportedAt });
  let entries = 0;
  let signed = 0;
  let afterSeq = 0;
  let headHash = '';
  let pending: Checkpoint[] = [];
  let pendingAfter = 0;
  while (afterSeq < last.seq) {
    const rows = await db
      .selectFrom('access_log')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('seq', '>', afterSeq)
      .where('seq', '<=', last.seq)
      .orderBy('seq', 'asc')
      .limit(PAGE)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const entry = rowToEntry(row, cipher);
      yield line({ type: 'entry', ...entry });
      entries += 1;
      afterSeq = entry.seq;
      headHash = entry.hash;
      // The checkpoints are read a page at a time too, alongside the entries they follow.
      if (pending.length === 0 && pendingAfter < entry.seq) {
        pending = await checkpoints.list(tenantId, pendingAfter, PAGE);
        pendingAfter = pending.length === PAGE ? pending[PAGE - 1]!.seq : Number.MAX_SAFE_INTEGER;
      }
      while (pending[0] && pending[0].seq <= entry.seq) {
        const checkpoint = pending.shift()!;
        if (checkpoint.seq === entry.seq && checkpoint.seq <= last.seq) {
          yield line({ type: 'checkpoint', ...checkpoint });
          signed += 1;
        }
      }
    }
  }
  yield line({ type: 'trailer', entries, checkpoints: signed, headSeq: afterSeq, headHash });
}

const line = (value: object) => `${JSON.stringify(value)}\n`;

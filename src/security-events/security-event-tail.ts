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

/**
 * How far back each poll of `--follow` looks again. An id is minted before its row commits, so a
 * row can become visible after rows with larger ids (a slower transaction, another node's clock a
 * little behind); a poll that asked only for ids after the last one printed would skip it for good.
 */
export const FOLLOW_OVERLAP_MS = 30_000;
const PAGE = 1_000;

/** The time a UUIDv7 was minted at (its first 48 bits, milliseconds since the epoch). */
const mintedAt = (id: string): number => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

/** The smallest UUIDv7 text of the millisecond `ms`: every id minted at or after it sorts after it. */
function firstIdAt(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/**
 * `--follow`: each poll re-reads the ids of the last FOLLOW_OVERLAP_MS (by their mint time, before
 * the newest seen) as well as what is new, and returns the events it has not returned before, so
 * a row committed late within that window is printed (after newer ones) instead of skipped. Only
 * ids are read again; rows are read and decrypted once. A row committed more than the overlap
 * after its id was minted (or from a node whose clock is further behind) can still be missed.
 */
export class SecurityEventFollower {
  /** Ids already returned, by their mint time; those older than the overlap window are forgotten. */
  private readonly seen = new Map<string, number>();
  private newest = 0;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly cipher: Cipher,
  ) {}

  /**
   * The latest `limit` events, oldest first: where following starts. The older ones of the overlap
   * window were left out on purpose (`limit`): they count as seen, not as late.
   */
  async start(limit: number): Promise<StoredStaffEvent[]> {
    const latest = this.mark(await tailSecurityEvents(this.db, this.cipher, { limit }));
    const last = latest.at(-1)?.id;
    if (last !== undefined) {
      const earlier = await this.db.selectFrom('security_events').select('id').where('id', '>', firstIdAt(this.newest - FOLLOW_OVERLAP_MS)).where('id', '<', last).execute();
      for (const { id } of earlier) this.seen.set(id, mintedAt(id));
    }
    return latest;
  }

  /** Every event not returned yet, from the overlap window on, in id order. */
  async next(): Promise<StoredStaffEvent[]> {
    const events: StoredStaffEvent[] = [];
    let after = firstIdAt(this.newest - FOLLOW_OVERLAP_MS);
    for (;;) {
      const ids = (await this.db.selectFrom('security_events').select('id').where('id', '>', after).orderBy('id', 'asc').limit(PAGE).execute()).map((row) => row.id);
      const unseen = ids.filter((id) => !this.seen.has(id));
      if (unseen.length > 0) {
        const rows = await this.db.selectFrom('security_events').selectAll().where('id', 'in', unseen).orderBy('id', 'asc').execute();
        events.push(...this.mark(rows.map((row) => ({ ...eventOf(this.cipher, row), tenantId: row.tenant_id }))));
      }
      if (ids.length < PAGE) break;
      after = ids.at(-1)!;
    }
    this.forgetOld();
    return events;
  }

  private mark(events: StoredStaffEvent[]): StoredStaffEvent[] {
    for (const { id } of events) {
      const at = mintedAt(id);
      this.seen.set(id, at);
      this.newest = Math.max(this.newest, at);
    }
    return events;
  }

  /** Ids before the window are never read again, so they need not be remembered. */
  private forgetOld(): void {
    const floor = this.newest - FOLLOW_OVERLAP_MS;
    for (const [id, at] of this.seen) if (at < floor) this.seen.delete(id);
  }
}

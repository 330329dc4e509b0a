/** One verifier process's piece of work: a tenant's whole chain, or one segment of a long chain. */
export interface VerifyItem {
  tenantId: string;
  /** Entries fromSeq..toSeq only (both included); absent: the whole chain, to its head. */
  segment?: { fromSeq: number; toSeq: number };
}

/** Below this, a segment of a chain is not worth a process of its own: about 0.3 s of walking. */
export const MIN_SEGMENT_ENTRIES = 10_000;

/**
 * A chain longer than this is left whole: no deployment writes 10^15 entries, so such a head was
 * written by hand, and the one walk that reports it (head_mismatch) is the right answer.
 */
const MAX_PLANNED_SEQ = 1e15;

/**
 * How to share out verifying `tenantIds` between `count` processes: each tenant whole, except a
 * chain longer than a fair share (all entries / count, and at least MIN_SEGMENT_ENTRIES), which is
 * cut into segments of about a fair share each, none shorter than MIN_SEGMENT_ENTRIES, so one long
 * chain does not leave the other processes idle. Segments run to the head's seq at planning; what
 * is appended later is walked by the command itself as it finishes the chain.
 */
export function planVerification(tenantIds: readonly string[], lengths: ReadonlyMap<string, number>, count: number): VerifyItem[] {
  const total = tenantIds.reduce((sum, tenantId) => sum + (lengths.get(tenantId) ?? 0), 0);
  const fairShare = Math.max(MIN_SEGMENT_ENTRIES, Math.ceil(total / Math.max(1, count)));
  return tenantIds.flatMap((tenantId): VerifyItem[] => {
    const length = lengths.get(tenantId) ?? 0;
    const pieces = Math.min(Math.ceil(length / fairShare), Math.floor(length / MIN_SEGMENT_ENTRIES));
    if (count <= 1 || pieces < 2 || length > MAX_PLANNED_SEQ) return [{ tenantId }];
    // floor(length / pieces) each, the first `longer` one entry more: none below MIN_SEGMENT_ENTRIES.
    const size = Math.floor(length / pieces);
    const longer = length - size * pieces;
    const start = (i: number) => i * size + Math.min(i, longer) + 1;
    return Array.from({ length: pieces }, (_, i) => ({ tenantId, segment: { fromSeq: start(i), toSeq: start(i + 1) - 1 } }));
  });
}

/** The entries an item covers (+1: an empty chain still costs a look). */
function weight(item: VerifyItem, lengths: ReadonlyMap<string, number>): number {
  const entries = item.segment ? item.segment.toSeq - item.segment.fromSeq + 1 : (lengths.get(item.tenantId) ?? 0);
  return entries + 1;
}

/**
 * Splits items into `count` shards of about equal work: the heaviest first, each to the shard with
 * the least so far (longest-processing-time first, within 4/3 of the best split). No shard is
 * empty, and each lists its items in the order they were given.
 */
export function verifyShards<Item extends VerifyItem>(items: readonly Item[], lengths: ReadonlyMap<string, number>, count: number): Item[][] {
  const shards = Array.from({ length: Math.max(1, Math.min(count, items.length)) }, () => ({ work: 0, items: new Set<Item>() }));
  const heaviestFirst = [...items].sort((a, b) => weight(b, lengths) - weight(a, lengths));
  for (const item of heaviestFirst) {
    const lightest = shards.reduce((least, shard) => (shard.work < least.work ? shard : least));
    lightest.work += weight(item, lengths);
    lightest.items.add(item);
  }
  return shards.filter((shard) => shard.items.size > 0).map((shard) => items.filter((item) => shard.items.has(item)));
}

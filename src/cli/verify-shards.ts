/**
 * Splits tenants into `count` shards of about equal work, by chain length: the longest first, each
 * to the shard with the least so far (longest-processing-time first, within 4/3 of the best split).
 * A tenant longer than a fair share gets a shard of its own: one chain is walked in order by one
 * verifier. Shards keep no empty ones, and each lists its tenants in the order they were given.
 */
export function verifyShards(tenantIds: readonly string[], lengths: ReadonlyMap<string, number>, count: number): string[][] {
  const shards = Array.from({ length: Math.max(1, Math.min(count, tenantIds.length)) }, () => ({ work: 0, tenants: new Set<string>() }));
  const byLength = [...tenantIds].sort((a, b) => (lengths.get(b) ?? 0) - (lengths.get(a) ?? 0));
  for (const tenantId of byLength) {
    const lightest = shards.reduce((least, shard) => (shard.work < least.work ? shard : least));
    lightest.work += (lengths.get(tenantId) ?? 0) + 1; // +1: an empty chain still costs a look
    lightest.tenants.add(tenantId);
  }
  return shards.filter((shard) => shard.tenants.size > 0).map((shard) => tenantIds.filter((id) => shard.tenants.has(id)));
}

import { describe, expect, it } from 'vitest';
import { verifyShards } from './verify-shards.js';

describe('verifyShards', () => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const lengths = new Map([
    ['a', 100],
    ['b', 10],
    ['c', 60],
    ['d', 40],
    ['e', 0],
  ]); // f has no entry yet

  it('puts every tenant in exactly one shard, each shard in the order given', () => {
    for (const count of [1, 2, 3, 4, 6, 10]) {
      const shards = verifyShards(ids, lengths, count);
      expect(shards.flat().sort()).toEqual(ids);
      for (const shard of shards) expect(shard).toEqual(ids.filter((id) => shard.includes(id)));
    }
  });

  it('balances by chain length: the longest chain alone, the rest together', () => {
    expect(verifyShards(ids, lengths, 2)).toEqual([['a', 'b'], ['c', 'd', 'e', 'f']]);
    const work = (shard: string[]) => shard.reduce((sum, id) => sum + (lengths.get(id) ?? 0) + 1, 0);
    const three = verifyShards(ids, lengths, 3).map(work);
    expect(Math.max(...three)).toBe(101); // nothing better than the longest chain alone is possible
  });

  it('makes no more shards than tenants, and none empty', () => {
    expect(verifyShards(['a', 'b'], lengths, 8)).toEqual([['a'], ['b']]);
    expect(verifyShards(['a'], lengths, 4)).toEqual([['a']]);
    expect(verifyShards([], lengths, 4)).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { MIN_SEGMENT_ENTRIES, planVerification, verifyShards, type VerifyItem } from './verify-shards.js';

describe('planVerification', () => {
  it('keeps each tenant whole for one process, or when no chain is longer than a fair share', () => {
    const lengths = new Map([['a', 20_000], ['b', 20_000], ['c', 5]]); // a fair share of two: 20,003
    expect(planVerification(['a', 'b', 'c'], lengths, 1)).toEqual([{ tenantId: 'a' }, { tenantId: 'b' }, { tenantId: 'c' }]);
    expect(planVerification(['a', 'b', 'c'], lengths, 2)).toEqual([{ tenantId: 'a' }, { tenantId: 'b' }, { tenantId: 'c' }]);
  });

  it('cuts a chain longer than a fair share into segments that cover it exactly, once', () => {
    const lengths = new Map([['big', 100_001], ['small', 10]]);
    const items = planVerification(['small', 'big'], lengths, 3);
    expect(items[0]).toEqual({ tenantId: 'small' });
    const segments = items.slice(1).map((item) => item.segment!);
    expect(segments.length).toBe(3);
    expect(segments[0]!.fromSeq).toBe(1);
    expect(segments.at(-1)!.toSeq).toBe(100_001);
    for (let i = 1; i < segments.length; i++) expect(segments[i]!.fromSeq).toBe(segments[i - 1]!.toSeq + 1);
    expect(items.slice(1).every((item) => item.tenantId === 'big')).toBe(true);
  });

  it('cuts segments that cover the chain exactly, none shorter than MIN_SEGMENT_ENTRIES', () => {
    expect(planVerification(['mid'], new Map([['mid', MIN_SEGMENT_ENTRIES + 5]]), 8)).toEqual([{ tenantId: 'mid' }]);
    for (const length of [2 * MIN_SEGMENT_ENTRIES, 40_001, 100_003, 640_001, 1_000_000]) {
      for (const count of [2, 3, 4, 7, 64]) {
        const items = planVerification(['x'], new Map([['x', length]]), count);
        if (items.length === 1) continue; // whole: nothing to check
        let next = 1;
        for (const { segment } of items) {
          expect(segment!.fromSeq, `${length} in ${count}`).toBe(next);
          expect(segment!.toSeq - segment!.fromSeq + 1, `${length} in ${count}`).toBeGreaterThanOrEqual(MIN_SEGMENT_ENTRIES);
          next = segment!.toSeq + 1;
        }
        expect(next - 1).toBe(length);
      }
    }
  });

  it('leaves a chain whose head no deployment could have written whole', () => {
    expect(planVerification(['forged'], new Map([['forged', 2e15]]), 4)).toEqual([{ tenantId: 'forged' }]);
  });
});

describe('verifyShards', () => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const items: VerifyItem[] = ids.map((tenantId) => ({ tenantId }));
  const lengths = new Map([['a', 100], ['b', 10], ['c', 60], ['d', 40], ['e', 0]]); // f has no entry yet
  const names = (shards: VerifyItem[][]) => shards.map((shard) => shard.map((item) => item.tenantId));

  it('puts every item in exactly one shard, each shard in the order given', () => {
    for (const count of [1, 2, 3, 4, 6, 10]) {
      const shards = verifyShards(items, lengths, count);
      expect(shards.flat().map((item) => item.tenantId).sort()).toEqual(ids);
      for (const shard of shards) expect(shard).toEqual(items.filter((item) => shard.includes(item)));
    }
  });

  it('balances by entries: the longest chain alone, the rest together', () => {
    expect(names(verifyShards(items, lengths, 2))).toEqual([['a', 'b'], ['c', 'd', 'e', 'f']]);
    const work = (shard: VerifyItem[]) => shard.reduce((sum, item) => sum + (lengths.get(item.tenantId) ?? 0) + 1, 0);
    expect(Math.max(...verifyShards(items, lengths, 3).map(work))).toBe(101); // nothing better than the longest chain alone is possible
  });

  it('weighs a segment by its own entries, not its chain’s', () => {
    const long = new Map([['x', 90_000], ['y', 30_000]]);
    const segments: VerifyItem[] = [1, 2, 3].map((i) => ({ tenantId: 'x', segment: { fromSeq: (i - 1) * 30_000 + 1, toSeq: i * 30_000 } }));
    const shards = verifyShards([...segments, { tenantId: 'y' }], long, 4);
    expect(shards).toHaveLength(4);
    expect(shards.every((shard) => shard.length === 1)).toBe(true);
  });

  it('makes no more shards than items, and none empty', () => {
    expect(names(verifyShards(items.slice(0, 2), lengths, 8))).toEqual([['a'], ['b']]);
    expect(verifyShards([], lengths, 4)).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { PageBudget, fillPage, pageEnvelopeBytes, pageJsonChunks } from './page-budget.js';

describe('page budget', () => {
  it('counts the envelope, the items and the commas between them, and always takes the first item', () => {
    const envelope = pageEnvelopeBytes('abc');
    expect(envelope).toBe(Buffer.byteLength('{"items":[],"nextCursor":"abc"}'));
    const budget = new PageBudget(envelope + 10 + 1 + 10, envelope);
    expect(budget.take(10)).toBe(true);
    expect(budget.take(10)).toBe(true);
    expect(budget.take(1)).toBe(false);
    expect(new PageBudget(5, envelope).take(1_000)).toBe(true);
  });

  it('chunks a page whose concatenation is exactly the JSON of the page', () => {
    const items = [['{"a":', '"x"', '}'], ['{"b":', JSON.stringify('é'.repeat(70_000)), '}'], ['{}']];
    for (const cursor of ['next', null]) {
      const chunks = pageJsonChunks(items, cursor);
      expect(chunks.every((chunk) => chunk.length > 0)).toBe(true);
      expect(JSON.parse(chunks.join(''))).toEqual({ items: [{ a: 'x' }, { b: 'é'.repeat(70_000) }, {}], nextCursor: cursor });
    }
    expect(pageJsonChunks([], null)).toEqual(['{"items":[],"nextCursor":null}']);
  });

  it('fills a page in batches, stopping at the limit or the bound, and says whether more follow', async () => {
    type Row = { n: number; text: string };
    const rows: Row[] = Array.from({ length: 30 }, (_, i) => ({ n: i, text: 'x'.repeat(i === 7 ? 500 : 10) }));
    const read = async (after: Row | undefined, count: number) => rows.filter((row) => row.n > (after?.n ?? -1)).slice(0, count);
    const byLimit = await fillPage({ limit: 12, maxBytes: 1e6, longestCursor: 'c', batchRows: 5, read, toItem: (row) => row });
    expect(byLimit.items.map((row) => row.n)).toEqual([...Array(12).keys()]);
    expect(byLimit).toMatchObject({ more: true, lastRow: rows[11] });
    const all = await fillPage({ limit: 30, maxBytes: 1e6, longestCursor: 'c', batchRows: 5, read, toItem: (row) => row });
    expect(all).toMatchObject({ more: false, lastRow: rows[29] });
    expect(all.items).toHaveLength(30);
    const byBytes = await fillPage({ limit: 30, maxBytes: 300, longestCursor: 'c', batchRows: 5, read, toItem: (row) => row });
    expect(byBytes.items.map((row) => row.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(byBytes.more).toBe(true);
    const alone = await fillPage({ limit: 30, maxBytes: 300, longestCursor: 'c', batchRows: 5, read: (after: Row | undefined, count: number) => read(after ?? rows[6], count), toItem: (row: Row) => row });
    expect(alone.items.map((row) => row.n)).toEqual([7]);
  });
});

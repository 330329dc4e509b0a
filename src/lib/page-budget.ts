import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * A list page ends early when its JSON body would pass a byte budget (CONFIDE_LIST_MAX_BYTES), so
 * no single answer, and no batch of parallel ones, can hold the server's memory or its event loop
 * for long. Every page has the shape `{"items":[…],"nextCursor":…}`.
 */

/** `{"items":[` + `],"nextCursor":` + `}`: the bytes around the items and the cursor. */
const PAGE_FRAME_BYTES = '{"items":['.length + '],"nextCursor":'.length + '}'.length;

/** The bytes a page spends on everything but its items, counting the cursor at its longest. */
export function pageEnvelopeBytes(longestCursor: string): number {
  return PAGE_FRAME_BYTES + Buffer.byteLength(JSON.stringify(longestCursor));
}

/**
 * Adds items to a page while they fit in the budget; the first item always fits, so a page
 * always makes progress (an item larger than the budget is returned alone).
 */
export class PageBudget {
  private used: number;
  private items = 0;

  constructor(
    private readonly maxBytes: number,
    envelopeBytes: number,
  ) {
    this.used = envelopeBytes;
  }

  /** Takes an item of `bytes` (its JSON) when it fits, and says whether it did. */
  take(bytes: number): boolean {
    const next = this.used + bytes + (this.items > 0 ? 1 : 0); // the comma before it
    if (this.items > 0 && next > this.maxBytes) return false;
    this.used = next;
    this.items += 1;
    return true;
  }
}

/** Small pieces are sent together in chunks of about this many characters; a larger one goes alone. */
const CHUNK_CHARS = 64 * 1024;

/**
 * A page's JSON text from its items' JSON texts (each given in pieces that concatenate to it), in
 * chunks for a streamed answer: no large string is built or copied to join them, and the socket
 * encrypts and sends one chunk at a time, the event loop turning in between.
 */
export function pageJsonChunks(items: ReadonlyArray<readonly string[]>, nextCursor: string | null): string[] {
  const chunks: string[] = [];
  let pending = '{"items":[';
  const add = (piece: string) => {
    if (piece.length < CHUNK_CHARS) {
      pending += piece;
      if (pending.length < CHUNK_CHARS) return;
      chunks.push(pending);
    } else {
      chunks.push(pending, piece);
    }
    pending = '';
  };
  items.forEach((pieces, index) => {
    if (index > 0) add(',');
    pieces.forEach(add);
  });
  chunks.push(`${pending}],"nextCursor":${JSON.stringify(nextCursor)}}`);
  return chunks.filter((chunk) => chunk.length > 0);
}

export interface FilledPage<Row, Item> {
  items: Item[];
  /** The row of the last item returned, to make the next page's cursor from; undefined when empty. */
  lastRow: Row | undefined;
  /** Whether rows follow the page. */
  more: boolean;
}

/**
 * Fills a page of at most `limit` items from rows read `batchRows` at a time (yielding to the event
 * loop between batches), ending early before the page's JSON would pass `maxBytes`. Each item is
 * measured as JSON.stringify writes it, which is what the response serialiser writes too. An item
 * is made from its row only to measure it; it leaves only if it fits.
 */
export async function fillPage<Row, Item>(options: {
  limit: number;
  maxBytes: number;
  longestCursor: string;
  batchRows?: number;
  /** The next `count` rows after `after` (the first rows when undefined), in page order. */
  read: (after: Row | undefined, count: number) => Promise<Row[]>;
  toItem: (row: Row) => Item;
}): Promise<FilledPage<Row, Item>> {
  const budget = new PageBudget(options.maxBytes, pageEnvelopeBytes(options.longestCursor));
  const items: Item[] = [];
  let lastRow: Row | undefined;
  for (let batch = 0; ; batch += 1) {
    if (batch > 0) await nextTurn();
    // One row more than the page still needs, to know whether another page follows.
    const wanted = Math.min(options.batchRows ?? 50, options.limit - items.length + 1);
    const rows = await options.read(lastRow, wanted);
    for (const row of rows) {
      if (items.length === options.limit) return { items, lastRow, more: true };
      const item = options.toItem(row);
      if (!budget.take(Buffer.byteLength(JSON.stringify(item)))) return { items, lastRow, more: true };
      items.push(item);
      lastRow = row;
    }
    if (rows.length < wanted) return { items, lastRow, more: false };
  }
}

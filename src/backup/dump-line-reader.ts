import { DumpError } from './dump-error.js';
import type { DumpLine } from './dump-format.js';

/** Pulls dump lines one at a time from a sync or async iterable, checking the kinds the load expects. */
export class DumpLineReader {
  private readonly iterator: AsyncIterator<DumpLine> | Iterator<DumpLine>;

  constructor(lines: AsyncIterable<DumpLine> | Iterable<DumpLine>) {
    this.iterator = Symbol.asyncIterator in lines ? lines[Symbol.asyncIterator]() : lines[Symbol.iterator]();
  }

  async next(): Promise<DumpLine | undefined> {
    const result = await this.iterator.next();
    if (result.done) return undefined;
    const line = result.value;
    if (typeof line !== 'object' || line === null || typeof (line as { t?: unknown }).t !== 'string') throw new DumpError('the dump has a line that is not a dump line');
    return line;
  }

  async expect<T extends DumpLine['t']>(kind: T): Promise<Extract<DumpLine, { t: T }>> {
    const line = await this.next();
    if (!line || line.t !== kind) throw new DumpError(`the dump has ${line ? `a ${line.t} line` : 'no more lines'} where a ${kind} line belongs`);
    return line as Extract<DumpLine, { t: T }>;
  }
}

import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Long background work on the request-serving thread, cut into slices of about `sliceMs`: between
 * slices the event loop takes a turn (setImmediate runs after the turn's I/O callbacks), so a
 * request that arrives meanwhile waits behind at most one slice, not behind the whole job. On
 * the embedded database every query is synchronous, so the work must yield by itself; awaiting
 * a query is not enough.
 */
export class EventLoopSlices {
  private sliceStarted = performance.now();

  constructor(private readonly sliceMs: number) {}

  /** Whether the current slice has run its time (cheap: called once per unit of work). */
  due(): boolean {
    return performance.now() - this.sliceStarted >= this.sliceMs;
  }

  /** Lets the event loop turn, then starts a new slice. */
  async yield(): Promise<void> {
    await nextTurn();
    this.sliceStarted = performance.now();
  }
}

import { openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

let schedstat: number | null | undefined;
const buffer = Buffer.alloc(128);

/**
 * A clock for asking how long the event loop was held: wall-clock milliseconds less the time this
 * thread (the event loop's) spent waiting for a CPU, which Linux counts in its
 * /proc/thread-self/schedstat (the second field, nanoseconds runnable but not running). While other
 * test files run beside a test, the machine may deschedule its process for tens of milliseconds, and
 * then no code held the loop; time the thread ran or blocked in a synchronous call (a held loop)
 * still counts. One reading costs about 5 µs. Where there is no such file (not Linux), the clock
 * alone, as these tests timed before.
 */
export function heldLoopClockMs(): number {
  if (schedstat === undefined) schedstat = openSchedstat();
  const now = performance.now();
  if (schedstat === null) return now;
  const length = readSync(schedstat, buffer, 0, buffer.length, 0);
  const waitedNs = Number(buffer.toString('latin1', 0, length).split(' ', 2)[1]);
  return now - waitedNs / 1e6;
}

function openSchedstat(): number | null {
  try {
    return openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
}

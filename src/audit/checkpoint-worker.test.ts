import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AccessLogCheckpoints } from './access-log-checkpoints.js';
import { checkpointPollMs, CheckpointWorker } from './checkpoint-worker.js';

describe('checkpoint worker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('polls a tenth of CONFIDE_CHECKPOINT_SECONDS, between 1 and 10 seconds', () => {
    expect(checkpointPollMs(300)).toBe(10_000);
    expect(checkpointPollMs(50)).toBe(5_000);
    expect(checkpointPollMs(1)).toBe(1_000);
  });

  it('runs one pass at a time, reports failures, and stop() waits for the pass under way', async () => {
    vi.useFakeTimers();
    let finish: () => void = () => {};
    let passes = 0;
    const checkpoints = {
      policy: { entries: 1000, seconds: 20 },
      runOnce: vi.fn(() => {
        passes += 1;
        return passes === 1 ? Promise.reject(new Error('database away')) : new Promise<number>((resolve) => (finish = () => resolve(1)));
      }),
    } as unknown as AccessLogCheckpoints;
    const errors: unknown[] = [];
    const worker = new CheckpointWorker(checkpoints, (error) => errors.push(error));
    worker.start();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(passes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toBe(1);
    expect(errors).toEqual([new Error('database away')]);
    await vi.advanceTimersByTimeAsync(2_000); // the second pass starts and hangs
    await vi.advanceTimersByTimeAsync(10_000); // no overlapping pass meanwhile
    expect(passes).toBe(2);
    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    finish();
    await stopping;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(passes).toBe(2);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { KeySync } from './key-sync.js';

describe('key sync', () => {
  it('asks for nothing while the last poll is recent, then polls once for everyone arriving meanwhile', async () => {
    const sync = new KeySync(30);
    let polls = 0;
    let finish!: () => void;
    sync.attach(async () => {
      polls += 1;
      const started = performance.now();
      await new Promise<void>((resolve) => (finish = resolve));
      sync.synced(started);
    });
    expect(sync.ensureFresh()).toBeUndefined();
    await sleep(40);
    const first = sync.ensureFresh();
    const second = sync.ensureFresh();
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    finish();
    await first;
    expect(polls).toBe(1);
    expect(sync.ensureFresh()).toBeUndefined();
  });

  it('a failed poll leaves it behind: the next request polls again', async () => {
    const sync = new KeySync(0);
    let polls = 0;
    sync.attach(async () => {
      polls += 1;
      throw new Error('database unavailable');
    });
    await sleep(2);
    await expect(sync.ensureFresh()).rejects.toThrow('database unavailable');
    await expect(sync.ensureFresh()).rejects.toThrow('database unavailable');
    expect(polls).toBe(2);
  });

  it('without a rotation worker (the CLI) it never holds a request up, and takes one worker only', () => {
    const sync = new KeySync(0);
    expect(sync.ensureFresh()).toBeUndefined();
    sync.attach(async () => {});
    expect(() => sync.attach(async () => {})).toThrow(/one rotation worker/);
  });
});

import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('KeyedLock', () => {
  it('runs holders of one key one at a time, in arrival order, and keys apart in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (name: string, keys: string[]) =>
      lock.run(keys, async () => {
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
      });
    await Promise.all([job('a', ['x']), job('b', ['x']), job('c', ['y']), job('d', ['x', 'y'])]);
    // a and b never overlap; c runs beside a; d waits for both keys.
    expect(log.indexOf('a-')).toBeLessThan(log.indexOf('b+'));
    expect(log.indexOf('c+')).toBeLessThan(log.indexOf('a-'));
    expect(log.indexOf('d+')).toBeGreaterThan(Math.max(log.indexOf('b-'), log.indexOf('c-')));
  });

  it('releases a key when the holder throws, and keeps nothing afterwards', async () => {
    const lock = new KeyedLock();
    await expect(lock.run(['k'], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run(['k'], async () => 'next')).toBe('next');
    expect((lock as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});

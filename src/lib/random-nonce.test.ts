import { describe, expect, it } from 'vitest';
import { randomNonce } from './random-nonce.js';

describe('randomNonce', () => {
  it('never hands out the same nonce twice, across many blocks', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i += 1) seen.add(randomNonce(12).toString('hex'));
    expect(seen.size).toBe(20_000);
  });

  it('keeps a nonce already given unchanged when later blocks are drawn', () => {
    const held = randomNonce(12);
    const copy = Buffer.from(held);
    for (let i = 0; i < 2_000; i += 1) randomNonce(12); // about six blocks later
    expect(held.equals(copy)).toBe(true);
  });

  it('gives nonces of the length asked, not all zero (the bytes are drawn, not the allocation)', () => {
    const nonces = Array.from({ length: 1_000 }, () => randomNonce(12));
    expect(nonces.every((nonce) => nonce.length === 12)).toBe(true);
    expect(nonces.filter((nonce) => nonce.every((byte) => byte === 0))).toHaveLength(0);
    // Uniform bytes: each bit set about half the time over 96,000 bits.
    const ones = nonces.reduce((sum, nonce) => sum + [...nonce].reduce((bits, byte) => bits + byte.toString(2).replaceAll('0', '').length, 0), 0);
    expect(ones / 96_000).toBeGreaterThan(0.48);
    expect(ones / 96_000).toBeLessThan(0.52);
  });

  it('refuses a size it cannot serve from one block', () => {
    expect(() => randomNonce(0)).toThrow();
    expect(() => randomNonce(4097)).toThrow();
    expect(randomNonce(4096)).toHaveLength(4096);
  });
});

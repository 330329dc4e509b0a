import { describe, expect, it } from 'vitest';
import { newAes256Key } from '../lib/aes-gcm.js';
import { createCipher, type Cipher } from './cipher.js';
import { CipherCache } from './cipher-cache.js';

const cipherSealing = (version: number): Cipher => createCipher('t', new Map([[version, newAes256Key()]]));

/** A load the test finishes by hand. */
function deferredLoad() {
  let finish!: (cipher: Cipher) => void;
  let calls = 0;
  const pending: Array<Promise<Cipher>> = [];
  const load = () => {
    calls += 1;
    const promise = new Promise<Cipher>((resolve) => (finish = resolve));
    pending.push(promise);
    return promise;
  };
  return { load, finish: (cipher: Cipher) => finish(cipher), calls: () => calls };
}

describe('cipher cache', () => {
  it('shares one load among everyone asking for an owner meanwhile', async () => {
    const cache = new CipherCache();
    const { load, finish, calls } = deferredLoad();
    const first = cache.getOrLoad('t', load);
    const second = cache.getOrLoad('t', load);
    const loaded = cipherSealing(1);
    finish(loaded);
    expect(await first).toBe(loaded);
    expect(await second).toBe(loaded);
    expect(calls()).toBe(1);
    expect(cache.get('t')).toBe(loaded);
  });

  it('does not keep a load that an invalidation overtook (it may predate a rotation), and loads again', async () => {
    const cache = new CipherCache();
    const { load, finish, calls } = deferredLoad();
    const asked = cache.getOrLoad('t', load);
    await Promise.resolve();
    cache.invalidate('t'); // this node learnt of a rotation while the read was under way
    const stale = cipherSealing(1);
    finish(stale);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls()).toBe(2); // read again
    const fresh = cipherSealing(2);
    finish(fresh);
    expect(await asked).toBe(fresh);
    expect(cache.get('t')).toBe(fresh);
  });

  it('clear() overtakes every owner’s load under way too', async () => {
    const cache = new CipherCache();
    const { load, finish } = deferredLoad();
    const asked = cache.getOrLoad('t', load);
    await Promise.resolve();
    cache.clear();
    finish(cipherSealing(1));
    await new Promise((resolve) => setImmediate(resolve));
    const fresh = cipherSealing(2);
    finish(fresh);
    expect(await asked).toBe(fresh);
  });
});

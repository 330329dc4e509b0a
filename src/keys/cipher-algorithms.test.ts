import { describe, expect, it } from 'vitest';
import { newAes256Key } from '../lib/aes-gcm.js';
import { algorithmNamed, DATA_ALGORITHMS, UnknownAlgorithmError } from './algorithms.js';
import { createCipher } from './cipher.js';
import { formatEnvelope, parseEnvelope } from './envelope-format.js';

const at = { table: 'records', rowId: 'c/1', field: 'data' };
const AES = algorithmNamed('A256GCM');
const CHACHA = algorithmNamed('C20P1305');

describe('a cipher under each algorithm', () => {
  it.each(DATA_ALGORITHMS.map((algorithm) => [algorithm.name, algorithm] as const))('%s: seals with it, names it in the envelope, and opens only in the same place', (name, algorithm) => {
    const keys = new Map([[1, newAes256Key()]]);
    const cipher = createCipher('tenant-a', keys, { primary: algorithm });
    const sealed = cipher.encrypt('hello', at);
    expect(sealed.startsWith(`c1.${name}.1.`)).toBe(true);
    expect(parseEnvelope(sealed).sealed.length).toBe(12 + 5 + 16); // nonce, body, tag
    expect(cipher.decrypt(sealed, at)).toBe('hello');
    // AAD binding: moved to another row, field or owner, it does not open.
    expect(() => cipher.decrypt(sealed, { ...at, rowId: 'c/2' })).toThrow();
    expect(() => cipher.decrypt(sealed, { ...at, field: 'other' })).toThrow();
    expect(() => createCipher('tenant-b', keys, { primary: algorithm }).decrypt(sealed, at)).toThrow();
  });

  it.each([
    ['AES-256-GCM to ChaCha20-Poly1305', AES, CHACHA],
    ['ChaCha20-Poly1305 to AES-256-GCM', CHACHA, AES],
  ])('keeps reading what was sealed before the primary switched from %s', (_name, before, after) => {
    const keys = new Map([[1, newAes256Key()]]);
    const old = createCipher('t', keys, { primary: before }).encrypt('old', at);
    const switched = createCipher('t', keys, { primary: after });
    const fresh = switched.encrypt('new', at);
    expect(parseEnvelope(old).algorithm).toBe(before.name);
    expect(parseEnvelope(fresh).algorithm).toBe(after.name);
    expect(switched.decrypt(old, at)).toBe('old');
    expect(switched.decrypt(fresh, at)).toBe('new');
  });

  it('isCurrent: only the newest key version under the primary algorithm is current', () => {
    const v1 = newAes256Key();
    const aesV1 = createCipher('t', new Map([[1, v1]]), { primary: AES }).encrypt('x', at);
    const chachaV1 = createCipher('t', new Map([[1, v1]]), { primary: CHACHA }).encrypt('x', at);
    const rotated = new Map([[1, v1], [2, newAes256Key()]]);
    const aesV2 = createCipher('t', rotated, { primary: AES }).encrypt('x', at);
    const chachaV2 = createCipher('t', rotated, { primary: CHACHA }).encrypt('x', at);

    const chachaPrimary = createCipher('t', rotated, { primary: CHACHA });
    expect([aesV1, chachaV1, aesV2, chachaV2].map((value) => chachaPrimary.isCurrent(value))).toEqual([false, false, false, true]);
    const aesPrimary = createCipher('t', rotated, { primary: AES });
    expect([aesV1, chachaV1, aesV2, chachaV2].map((value) => aesPrimary.isCurrent(value))).toEqual([false, false, true, false]);
    // Version 12 is not version 1: the header match ends at the dot.
    const twelve = createCipher('t', new Map([[1, v1], [12, newAes256Key()]]), { primary: AES }).encrypt('x', at);
    expect(createCipher('t', new Map([[1, v1]]), { primary: AES }).isCurrent(twelve)).toBe(false);
    // What encrypt writes is current for the cipher that wrote it.
    expect(chachaPrimary.isCurrent(chachaPrimary.encrypt('y', at))).toBe(true);
  });

  it('refuses an envelope naming an unknown algorithm, rather than trying another', () => {
    const cipher = createCipher('t', new Map([[1, newAes256Key()]]), { primary: AES });
    const envelope = parseEnvelope(cipher.encrypt('secret', at));
    const relabelled = formatEnvelope({ ...envelope, algorithm: 'A128GCM' });
    expect(() => cipher.decrypt(relabelled, at)).toThrow(UnknownAlgorithmError);
    // Relabelled as the other known algorithm, it does not authenticate.
    expect(() => cipher.decrypt(formatEnvelope({ ...envelope, algorithm: 'C20P1305' }), at)).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { newAes256Key } from '../lib/aes-gcm.js';
import { createCipher } from './cipher.js';
import { parseEnvelope } from './envelope-format.js';
import { unwrapKey, wrapKey } from './key-wrapping.js';
import { inMemoryMasterKey } from './master-key.js';

const at = { table: 'records', rowId: 'c/1', field: 'data' };

describe('cipher', () => {
  it('round-trips and names algorithm and key version in the ciphertext', () => {
    const cipher = createCipher('tenant-a', new Map([[1, newAes256Key()]]));
    const sealed = cipher.encrypt('hello', at);
    expect(sealed).toMatch(/^c1\.A256GCM\.1\.[A-Za-z0-9_-]+$/);
    expect(parseEnvelope(sealed).sealed.length).toBe(12 + 5 + 16); // nonce, body, tag
    expect(cipher.decrypt(sealed, at)).toBe('hello');
  });

  it('uses a fresh random nonce every time', () => {
    const cipher = createCipher('t', new Map([[1, newAes256Key()]]));
    expect(cipher.encrypt('same', at)).not.toBe(cipher.encrypt('same', at));
  });

  it('encrypts with the newest key and still decrypts with older ones', () => {
    const v1 = newAes256Key();
    const old = createCipher('t', new Map([[1, v1]]));
    const sealedOld = old.encrypt('old', at);
    const rotated = createCipher('t', new Map([[1, v1], [2, newAes256Key()]]));
    expect(rotated.encrypt('new', at)).toMatch(/^c1\.A256GCM\.2\./);
    expect(rotated.decrypt(sealedOld, at)).toBe('old');
  });

  it.each([
    ['another owner', () => createCipher('tenant-b', new Map([[1, KEY]])), at],
    ['another row', () => createCipher('tenant-a', new Map([[1, KEY]])), { ...at, rowId: 'c/2' }],
    ['another field', () => createCipher('tenant-a', new Map([[1, KEY]])), { ...at, field: 'other' }],
  ])('refuses a ciphertext moved to %s (AAD binding)', (_name, make, location) => {
    const sealed = createCipher('tenant-a', new Map([[1, KEY]])).encrypt('secret', at);
    expect(() => make().decrypt(sealed, location)).toThrow();
  });

  it('refuses a ciphertext with one bit flipped', () => {
    const cipher = createCipher('t', new Map([[1, newAes256Key()]]));
    const envelope = parseEnvelope(cipher.encrypt('secret', at));
    envelope.sealed[14]! ^= 1;
    expect(() => cipher.decrypt(`c1.A256GCM.1.${envelope.sealed.toString('base64url')}`, at)).toThrow();
  });

  it('wraps data keys under the master key, bound to their slot', () => {
    const master = inMemoryMasterKey('env', newAes256Key(), 'test master key');
    const key = newAes256Key();
    const slot = { owner: 'tenant-a', purpose: 'data' as const, version: 1 };
    const wrapped = wrapKey(master, slot, key);
    expect(wrapped).not.toContain(key.toString('base64url'));
    expect(unwrapKey(master, slot, wrapped).equals(key)).toBe(true);
    expect(() => unwrapKey(master, { ...slot, owner: 'tenant-b' }, wrapped)).toThrow();
    expect(() => unwrapKey(master, { ...slot, version: 2 }, wrapped)).toThrow();
    expect(() => unwrapKey(inMemoryMasterKey('env', newAes256Key(), 'another'), slot, wrapped)).toThrow();
  });
});

const KEY = newAes256Key();

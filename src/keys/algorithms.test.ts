import { describe, expect, it } from 'vitest';
import { DecryptionError, newAes256Key } from '../lib/aes-gcm.js';
import { loadConfig } from '../config/load-config.js';
import { algorithmForConfig, algorithmNamed, DATA_ALGORITHMS, DEFAULT_DATA_ALGORITHM, UnknownAlgorithmError } from './algorithms.js';

const aad = Buffer.from('confide:v1:tenant-a:records:c/1:data');

describe('the algorithm registry', () => {
  it('holds exactly AES-256-GCM (the default) and ChaCha20-Poly1305, each with a 32-byte key', () => {
    expect(DATA_ALGORITHMS.map((algorithm) => [algorithm.name, algorithm.configName, algorithm.keyBytes])).toEqual([
      ['A256GCM', 'aes-256-gcm', 32],
      ['C20P1305', 'chacha20-poly1305', 32],
    ]);
    expect(DEFAULT_DATA_ALGORITHM.name).toBe('A256GCM');
  });

  it.each(DATA_ALGORITHMS.map((algorithm) => [algorithm.name, algorithm] as const))('%s seals and opens with one data key, bound to its AAD', (_name, algorithm) => {
    const key = newAes256Key();
    const sealed = algorithm.seal(key, Buffer.from('secret'), aad);
    expect(algorithm.open(key, sealed, aad).toString()).toBe('secret');
    expect(() => algorithm.open(key, sealed, Buffer.from('confide:v1:tenant-a:records:c/2:data'))).toThrow(DecryptionError);
    expect(() => algorithm.open(newAes256Key(), sealed, aad)).toThrow(DecryptionError);
  });

  it('keeps the two algorithms apart: a value sealed by one does not open as the other', () => {
    const [aes, chacha] = [algorithmNamed('A256GCM'), algorithmNamed('C20P1305')];
    const key = newAes256Key();
    expect(() => chacha.open(key, aes.seal(key, Buffer.from('secret'), aad), aad)).toThrow(DecryptionError);
    expect(() => aes.open(key, chacha.seal(key, Buffer.from('secret'), aad), aad)).toThrow(DecryptionError);
  });

  it('refuses any other name clearly, saying which ones it knows', () => {
    for (const name of ['A128GCM', 'DES', 'a256gcm', '']) {
      expect(() => algorithmNamed(name)).toThrow(UnknownAlgorithmError);
    }
    expect(() => algorithmNamed('A128GCM')).toThrow('unknown cipher algorithm "A128GCM" (known: A256GCM, C20P1305)');
  });

  it('has an algorithm for every value CONFIDE_DATA_CIPHER accepts', () => {
    for (const algorithm of DATA_ALGORITHMS) {
      const config = loadConfig({ CONFIDE_DATA_CIPHER: algorithm.configName }, '/srv');
      expect(algorithmForConfig(config.dataCipher)).toBe(algorithm);
    }
    expect(algorithmForConfig(loadConfig({}, '/srv').dataCipher)).toBe(DEFAULT_DATA_ALGORITHM);
  });
});

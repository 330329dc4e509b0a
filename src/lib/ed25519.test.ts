import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519KeyId, generateEd25519, parseEd25519PublicKeys, privateKeyFromSeed, publicKeyPem, rawPublicKey, signEd25519, verifyEd25519 } from './ed25519.js';

describe('ed25519', () => {
  it('rebuilds the key pair from the 32-byte seed, and signs what only its public key verifies', () => {
    const { seed, publicKey } = generateEd25519();
    expect(seed).toHaveLength(32);
    expect(publicKey).toHaveLength(32);
    const privateKey = privateKeyFromSeed(seed);
    expect(rawPublicKey(createPublicKey(privateKey))).toEqual(publicKey);
    const message = Buffer.from('checkpoint');
    const signature = signEd25519(privateKey, message);
    expect(verifyEd25519(publicKey, message, signature)).toBe(true);
    expect(verifyEd25519(publicKey, Buffer.from('checkpoinT'), signature)).toBe(false);
    expect(verifyEd25519(generateEd25519().publicKey, message, signature)).toBe(false);
    expect(verifyEd25519(publicKey, message, signature.subarray(1))).toBe(false);
  });

  it('reads a public key as PEM (several in one text), base64 or base64url raw, or base64 SPKI', () => {
    const a = generateEd25519().publicKey;
    const b = generateEd25519().publicKey;
    expect(parseEd25519PublicKeys(publicKeyPem(a))).toEqual([a]);
    expect(parseEd25519PublicKeys(`${publicKeyPem(a)}\n${publicKeyPem(b)}`)).toEqual([a, b]);
    expect(parseEd25519PublicKeys(a.toString('base64'))).toEqual([a]);
    expect(parseEd25519PublicKeys(` ${a.toString('base64url')}\n`)).toEqual([a]);
    const spki = createPublicKey(publicKeyPem(a)).export({ format: 'der', type: 'spki' });
    expect(parseEd25519PublicKeys(spki.toString('base64'))).toEqual([a]);
    expect(() => parseEd25519PublicKeys('not a key')).toThrow('not an Ed25519 public key');
    expect(() => parseEd25519PublicKeys(Buffer.alloc(31).toString('base64'))).toThrow('not an Ed25519 public key');
  });

  it('names a key by the first 16 hex characters of SHA-256 of its raw bytes', () => {
    expect(ed25519KeyId(Buffer.alloc(32))).toBe('66687aadf862bd77');
  });
});

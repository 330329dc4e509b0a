import { describe, expect, it } from 'vitest';
import { DecryptionError } from './aes-gcm.js';
import { openChaCha20Poly1305, sealChaCha20Poly1305 } from './chacha20-poly1305.js';

// RFC 8439 section 2.8.2, the AEAD test vector: proves this is ChaCha20-Poly1305 and that the
// sealed layout (nonce ‖ ciphertext ‖ tag) is the standard one, not merely self-consistent.
const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const VECTOR = {
  key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: hex('070000004041424344454647'),
  aad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext: hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b6116`),
  tag: hex('1ae10b594f09e26a7e902ecbd0600691'),
};

describe('ChaCha20-Poly1305', () => {
  it('opens the RFC 8439 test vector', () => {
    const sealed = Buffer.concat([VECTOR.nonce, VECTOR.ciphertext, VECTOR.tag]);
    expect(openChaCha20Poly1305(VECTOR.key, sealed, VECTOR.aad).toString('latin1')).toBe(VECTOR.plaintext);
  });

  it('round-trips with a fresh nonce each time, and refuses another AAD, another key or a flipped bit', () => {
    const key = Buffer.alloc(32, 1);
    const aad = Buffer.from('here');
    const sealed = sealChaCha20Poly1305(key, Buffer.from('secret'), aad);
    expect(sealed.length).toBe(12 + 6 + 16);
    expect(sealChaCha20Poly1305(key, Buffer.from('secret'), aad).equals(sealed)).toBe(false);
    expect(openChaCha20Poly1305(key, sealed, aad).toString()).toBe('secret');
    expect(() => openChaCha20Poly1305(key, sealed, Buffer.from('there'))).toThrow(DecryptionError);
    expect(() => openChaCha20Poly1305(Buffer.alloc(32, 2), sealed, aad)).toThrow(DecryptionError);
    const flipped = Buffer.from(sealed);
    flipped[13]! ^= 1;
    expect(() => openChaCha20Poly1305(key, flipped, aad)).toThrow(DecryptionError);
    expect(() => openChaCha20Poly1305(key, sealed.subarray(0, 20), aad)).toThrow(DecryptionError);
  });
});

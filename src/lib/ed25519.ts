import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

// The fixed DER prefixes of an Ed25519 key (RFC 8410): PKCS#8 around a 32-byte seed, SPKI around a
// 32-byte public key. With them a key is stored as its 32 raw bytes and rebuilt by node:crypto.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_BYTES = 32;

export interface Ed25519KeyPair {
  /** The 32-byte private seed: the only secret, kept wrapped at rest. */
  seed: Buffer;
  publicKey: Buffer;
}

export function generateEd25519(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { seed: Buffer.from(seed), publicKey: rawPublicKey(publicKey) };
}

export function privateKeyFromSeed(seed: Buffer): KeyObject {
  if (seed.length !== KEY_BYTES) throw new Error('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * Public keys already rebuilt, by their raw bytes: verifying a whole deployment checks one
 * checkpoint per tenant under the same few keys, and rebuilding the key object each time cost more
 * than the signature check. Public and immutable, so sharing them is safe; a few at most are live.
 */
const rebuiltPublicKeys = new Map<string, KeyObject>();
const REBUILT_KEPT = 32;

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== KEY_BYTES) throw new Error('an Ed25519 public key is 32 bytes');
  const id = raw.toString('hex');
  let key = rebuiltPublicKeys.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    if (rebuiltPublicKeys.size >= REBUILT_KEPT) rebuiltPublicKeys.clear();
    rebuiltPublicKeys.set(id, key);
  }
  return key;
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519' || der.length !== SPKI_PREFIX.length + KEY_BYTES) throw new Error('not an Ed25519 public key');
  return Buffer.from(der.subarray(SPKI_PREFIX.length));
}

/** A public, stable name of a public key: the first 16 hex characters of SHA-256 of its raw bytes. */
export function ed25519KeyId(rawPublic: Buffer): string {
  return createHash('sha256').update(rawPublic).digest('hex').slice(0, 16);
}

export function publicKeyPem(rawPublic: Buffer): string {
  return publicKeyFromRaw(rawPublic).export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * Every Ed25519 public key in `text`: PEM blocks (several may follow each other), or one key as
 * base64/base64url of its 32 raw bytes or of its SPKI DER. Throws when `text` holds none.
 */
export function parseEd25519PublicKeys(text: string): Buffer[] {
  const pems = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g);
  if (pems) return pems.map((pem) => rawPublicKey(createPublicKey(pem)));
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error('not an Ed25519 public key (PEM, or base64 of the raw key)');
  const bytes = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (bytes.length === KEY_BYTES) return [bytes];
  if (bytes.length === SPKI_PREFIX.length + KEY_BYTES && bytes.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX)) return [bytes.subarray(SPKI_PREFIX.length)];
  throw new Error('not an Ed25519 public key (PEM, or base64 of the raw key)');
}

export const signEd25519 = (privateKey: KeyObject, message: Buffer): Buffer => sign(null, message, privateKey);

export function verifyEd25519(rawPublic: Buffer, message: Buffer, signature: Buffer): boolean {
  if (signature.length !== 64) return false;
  return verify(null, message, publicKeyFromRaw(rawPublic), signature);
}

/**
 * The floors' share of Confide's cryptography (bench/floor-server.ts on SQLite and
 * bench/floor-postgres-server.ts): AES-256-GCM with a random 96-bit nonce (iv ‖ ciphertext ‖ tag)
 * and SHA-256 in hex, and the access-log entry both chain. One copy, so both floors seal and chain
 * exactly alike.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
// Nonces cut from 4 KiB blocks of CSPRNG output, Confide's own helper: a randomBytes(12) per value
// costs about 5 µs on the bench machine, as much as the sealing itself. The floors keep each
// promise as cheaply as it can be kept, not more dearly than Confide does.
import { randomNonce } from '../src/lib/random-nonce.js';

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomNonce(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12)).setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What one request appends to its tenant's access log, as both floors log it. */
export interface FloorEntry {
  tenantId: string;
  actorId: string;
  action: 'create' | 'read';
  collection: string;
  resourceId: string;
  ip: string;
}

/** The entry at `seq` after `prevHash`: its address sealed under the tenant's key, and its chain hash. */
export function chainEntry(key: Buffer, entry: FloorEntry, seq: number, at: string, prevHash: string): { ipEnc: Buffer; hash: string } {
  const ipEnc = seal(key, Buffer.from(entry.ip), `${entry.tenantId}|access_log|${seq}|ip`);
  const hash = sha256(JSON.stringify([entry.tenantId, seq, at, entry.actorId, entry.action, entry.collection, entry.resourceId, entry.ip, prevHash]));
  return { ipEnc, hash };
}

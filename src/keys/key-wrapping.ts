import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import { deriveKey, hmacHex } from '../lib/key-derivation.js';
import { ALGORITHM_AES_256_GCM } from './envelope-format.js';

export interface KeySlot {
  owner: string;
  purpose: 'data' | 'index';
  version: number;
}

const slotAad = (slot: KeySlot) => Buffer.from(`confide:key-ring:${slot.owner}:${slot.purpose}:${slot.version}`, 'utf8');

/** Data keys rest only wrapped (AES-256-GCM) under the master key, bound to their slot. */
export function wrapKey(masterKey: Buffer, slot: KeySlot, key: Buffer): string {
  return `w1.${ALGORITHM_AES_256_GCM}.${sealAes256Gcm(masterKey, key, slotAad(slot)).toString('base64url')}`;
}

export function unwrapKey(masterKey: Buffer, slot: KeySlot, wrapped: string): Buffer {
  const [format, algorithm, sealed] = wrapped.split('.');
  if (format !== 'w1' || algorithm !== ALGORITHM_AES_256_GCM || !sealed) throw new Error('unknown key wrapping');
  return openAes256Gcm(masterKey, Buffer.from(sealed, 'base64url'), slotAad(slot));
}

/** A public fingerprint of the master key: tells which master key wrapped a data key, reveals nothing. */
export function masterKeyId(masterKey: Buffer): string {
  return hmacHex(deriveKey(masterKey, 'master-key-id'), 'master-key-id').slice(0, 16);
}

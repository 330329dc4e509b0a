import type { MasterKey } from './master-key.js';

export interface KeySlot {
  owner: string;
  purpose: 'data' | 'index';
  version: number;
}

/** What a wrapped key is bound to: copied to another owner, purpose or version, it does not unwrap. */
export const slotAad = (slot: KeySlot) => Buffer.from(`confide:key-ring:${slot.owner}:${slot.purpose}:${slot.version}`, 'utf8');

/** Data keys rest only wrapped under the master key (AES-256-GCM, wherever the master key lives), or under their tenant's TKEK (data-key-wrapping.ts), bound to their slot. */
export function wrapKey(masterKey: Pick<MasterKey, 'wrap'>, slot: KeySlot, key: Buffer): string {
  return masterKey.wrap(key, slotAad(slot));
}

export function unwrapKey(masterKey: Pick<MasterKey, 'unwrap'>, slot: KeySlot, wrapped: string): Buffer {
  return masterKey.unwrap(wrapped, slotAad(slot));
}

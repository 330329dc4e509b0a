import { Readable } from 'node:stream';
import { openAes256Gcm, sealAes256Gcm } from '../lib/aes-gcm.js';
import type { ObjectStore } from '../storage/object-store.js';
import { decodeHeader, type ArchiveHeader } from './archive-header.js';

/**
 * The small objects beside an archive (`.manifest`, `.verified`): the archive's clear header, then
 * a JSON value sealed with AES-256-GCM under the same backup key. The AAD is the header's bytes and
 * the object's kind, so a manifest cannot pass for a marker, nor either for another backup's.
 */
export type SealedKind = 'manifest' | 'verified';

const aad = (encodedHeader: Buffer, kind: SealedKind) => Buffer.concat([encodedHeader, Buffer.from(`\0confide:backup-${kind}`, 'utf8')]);

export async function putSealed(store: ObjectStore, name: string, encodedHeader: Buffer, backupKey: Buffer, kind: SealedKind, value: unknown): Promise<void> {
  const sealed = sealAes256Gcm(backupKey, Buffer.from(JSON.stringify(value), 'utf8'), aad(encodedHeader, kind));
  await store.put(name, Readable.from([Buffer.concat([encodedHeader, sealed])]));
}

/** A small object's header, and a function that opens its value once the caller has the backup key. */
export async function readSealed(store: ObjectStore, name: string): Promise<{ header: ArchiveHeader; open: <T>(backupKey: Buffer, kind: SealedKind) => T }> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.get(name)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const decoded = decodeHeader(bytes);
  if (!decoded) throw new Error(`${name} ends inside its header`);
  const body = bytes.subarray(decoded.encoded.length);
  return {
    header: decoded.header,
    open: <T>(backupKey: Buffer, kind: SealedKind) => JSON.parse(openAes256Gcm(backupKey, body, aad(decoded.encoded, kind)).toString('utf8')) as T,
  };
}

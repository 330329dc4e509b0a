import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

/** Where one upload of a file belongs: what its blob's and its key's AAD bind it to. */
export interface FilePlace {
  tenantId: string;
  collection: string;
  recordId: string;
  name: string;
  uploadId: string;
}

/** What is sealed in `record_files.key_enc`: the file key and what the API says of the file that is not public metadata. */
export interface FileSecrets {
  key: Buffer;
  contentType: string;
  sha256: string;
}

/**
 * The blob's associated data (src/lib/stream-aead.ts): its tenant, record, name and upload. A blob
 * copied to another record, name or tenant, or an older upload of the same name, does not open.
 */
export function blobAssociatedData(place: FilePlace): Buffer {
  return Buffer.from(`confide:file:v1:${place.tenantId}:${place.collection}:${place.recordId}:${place.name}:${place.uploadId}`, 'utf8');
}

function keyLocation(place: FilePlace) {
  return ENCRYPTED_FIELDS.recordFilesKey.location({ collection: place.collection, record_id: place.recordId, name: place.name, upload_id: place.uploadId });
}

export function sealFileSecrets(cipher: Cipher, place: FilePlace, secrets: FileSecrets): string {
  const text = JSON.stringify({ key: secrets.key.toString('base64'), contentType: secrets.contentType, sha256: secrets.sha256 });
  return cipher.encrypt(text, keyLocation(place));
}

export function openFileSecrets(cipher: Cipher, place: FilePlace, sealed: string): FileSecrets {
  const parsed = JSON.parse(cipher.decrypt(sealed, keyLocation(place))) as { key: string; contentType: string; sha256: string };
  return { key: Buffer.from(parsed.key, 'base64'), contentType: parsed.contentType, sha256: parsed.sha256 };
}

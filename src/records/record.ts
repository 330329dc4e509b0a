import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import type { RecordRow } from './record-repository.js';
import type { FileView } from '../files/file-view.js';

export type RecordData = Record<string, unknown>;

export interface CustomerRecord {
  id: string;
  collection: string;
  data: RecordData;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Files attached to it (src/files/): on reads and writes, not from openRecord alone. */
  files?: FileView[];
}

/** A record's contents are bound to its tenant, collection and id: moved anywhere else, they do not decrypt. */
export function sealRecordData(cipher: Cipher, collection: string, id: string, data: RecordData): string {
  return cipher.encrypt(JSON.stringify(data), ENCRYPTED_FIELDS.recordsData.location({ collection, id }));
}

export function openRecord(cipher: Cipher, row: RecordRow): CustomerRecord {
  return {
    id: row.id,
    collection: row.collection,
    data: JSON.parse(cipher.decrypt(row.data_enc, ENCRYPTED_FIELDS.recordsData.location(row))) as RecordData,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

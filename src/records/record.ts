import type { Cipher, ValueLocation } from '../keys/cipher.js';
import type { RecordRow } from './record-repository.js';

export type RecordData = Record<string, unknown>;

export interface CustomerRecord {
  id: string;
  collection: string;
  data: RecordData;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A record's contents are bound to its tenant, collection and id: moved anywhere else, they do not decrypt. */
export function recordDataLocation(collection: string, id: string): ValueLocation {
  return { table: 'records', rowId: `${collection}/${id}`, field: 'data' };
}

export function sealRecordData(cipher: Cipher, collection: string, id: string, data: RecordData): string {
  return cipher.encrypt(JSON.stringify(data), recordDataLocation(collection, id));
}

export function openRecord(cipher: Cipher, row: RecordRow): CustomerRecord {
  return {
    id: row.id,
    collection: row.collection,
    data: JSON.parse(cipher.decrypt(row.data_enc, recordDataLocation(row.collection, row.id))) as RecordData,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

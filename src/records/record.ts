import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import type { RecordRow } from './record-repository.js';
import type { FileView } from '../files/file-view.js';
import type { RecordHeader } from './record-json.js';

export type RecordData = Record<string, unknown>;

export interface CustomerRecord {
  id: string;
  collection: string;
  data: RecordData;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Files attached to it (src/files/): a new record has none; an update answers them. */
  files?: FileView[];
}

/** A record's contents are bound to its tenant, collection and id: moved anywhere else, they do not decrypt. */
export function sealRecordData(cipher: Cipher, collection: string, id: string, data: RecordData): string {
  return sealRecordDataJson(cipher, collection, id, JSON.stringify(data));
}

/** sealRecordData for data already written out by JSON.stringify, when the caller answers with that text too. */
export function sealRecordDataJson(cipher: Cipher, collection: string, id: string, dataJson: string): string {
  return cipher.encrypt(dataJson, ENCRYPTED_FIELDS.recordsData.location({ collection, id }));
}

/**
 * The record's data as the JSON text sealRecordData sealed, decrypted (and so authenticated) but
 * not parsed: answers splice it in as it is (record-json.ts).
 */
export function openRecordDataJson(cipher: Cipher, row: RecordRow): string {
  return cipher.decrypt(row.data_enc, ENCRYPTED_FIELDS.recordsData.location(row));
}

/** What the record's JSON says of it besides its data and files. */
export function recordHeaderOf(row: RecordRow): RecordHeader {
  return { id: row.id, version: Number(row.version), createdAt: row.created_at, updatedAt: row.updated_at };
}

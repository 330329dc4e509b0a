import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { PageBudget, pageEnvelopeBytes } from '../lib/page-budget.js';
import { encodeRecordCursor } from './list-cursor.js';
import { plaintextBytesAtMost, recordHeaderBytesAtMost, recordJsonPieces } from './record-json.js';
import { findRecordRowsInRange, type RecordRow, type RecordSize } from './record-repository.js';
import { openRecordDataJson, recordHeaderOf } from './record.js';

/** Every record cursor has the same length: one made from any id is the longest. */
const ENVELOPE_BYTES = pageEnvelopeBytes(encodeRecordCursor('00000000-0000-7000-8000-000000000000'));

/**
 * Large pages are read and decrypted in slices of about this many bytes, yielding to the event
 * loop between slices, so that other requests (a /healthz, a sign-in) are served in between.
 */
const SLICE_BYTES = 512 * 1024;

/**
 * The leading records that fit in a page of `maxBytes`, judged from their stored sizes alone:
 * the page is decided before any record is read in full, logged, or decrypted.
 */
export function planRecordPage<T extends RecordSize>(collection: string, records: readonly T[], maxBytes: number): T[] {
  const budget = new PageBudget(maxBytes, ENVELOPE_BYTES);
  const headerBytes = recordHeaderBytesAtMost(collection);
  const page: T[] = [];
  for (const record of records) {
    if (!budget.take(headerBytes + plaintextBytesAtMost(record.sealedBytes) + (record.filesBytes ?? 0))) break;
    page.push(record);
  }
  return page;
}

export function sizeOf(row: RecordRow): RecordSize {
  return { id: row.id, sealedBytes: row.data_enc.length };
}

/**
 * Reads the planned records in slices of about SLICE_BYTES of ciphertext (at least one record
 * each). Only planned records are kept: one created meanwhile between two of them (an id from
 * another node's clock) waits for the next page, and one deleted meanwhile is simply absent.
 */
export async function readPlannedRows(db: Kysely<DB>, tenantId: string, collection: string, planned: readonly RecordSize[]): Promise<RecordRow[]> {
  const rows: RecordRow[] = [];
  const wanted = new Set(planned.map((record) => record.id));
  for (let start = 0; start < planned.length; ) {
    let end = start + 1;
    let bytes = planned[start]!.sealedBytes;
    while (end < planned.length && bytes + planned[end]!.sealedBytes <= SLICE_BYTES) bytes += planned[end++]!.sealedBytes;
    if (start > 0) await nextTurn();
    const slice = await findRecordRowsInRange(db, tenantId, collection, planned[start]!.id, planned[end - 1]!.id);
    rows.push(...slice.filter((row) => wanted.has(row.id)));
    start = end;
  }
  return rows;
}

/**
 * Each record's JSON, its data decrypted and spliced in, yielding to the event loop every
 * SLICE_BYTES or so. It empties `rows` as it goes, so each ciphertext can be collected once
 * decrypted: a page in flight holds about one copy of its data, not two.
 */
export async function takeRecordsJson(cipher: Cipher, collection: string, rows: RecordRow[], filesJsonOf: (id: string) => string): Promise<Array<[string, string, string]>> {
  const items: Array<[string, string, string]> = [];
  let sinceYield = 0;
  for (let row = rows.shift(); row !== undefined; row = rows.shift()) {
    if (sinceYield >= SLICE_BYTES) {
      await nextTurn();
      sinceYield = 0;
    }
    items.push(recordJsonPieces(collection, recordHeaderOf(row), openRecordDataJson(cipher, row), filesJsonOf(row.id)));
    sinceYield += row.data_enc.length;
  }
  return items;
}

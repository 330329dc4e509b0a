import type { RecordsDeps } from './records-deps.js';
import { pageJsonChunks } from '../lib/page-budget.js';
import { accessedBy, type DataCaller } from '../core/principal.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { FILE_JSON_AT_MOST, fileCounts, filesOfRecords } from '../files/file-view.js';
import { deleteRecordFileRows } from '../files/record-file-repository.js';
import { decodeCollectionCursor, decodeRecordCursor, encodeCollectionCursor, encodeRecordCursor } from './list-cursor.js';
import { openRecordDataJson, recordHeaderOf, sealRecordData, sealRecordDataJson, type CustomerRecord, type RecordData } from './record.js';
import { recordJson } from './record-json.js';
import { listCollectionSummaries, type CollectionSummary } from './collection-summary-repository.js';
import { planRecordPage, readPlannedRows, sizeOf, takeRecordsJson } from './record-page.js';
import {
  deleteRecordRow,
  ensureCollection,
  findRecordRow,
  findRecordRowForReading,
  insertRecordRow,
  listRecordSizes,
  updateRecordRow,
  type RecordSize,
} from './record-repository.js';

/** A page of records as the JSON text the API answers, `{"items": [...], "nextCursor": ...}`, in chunks to stream. */
export interface RecordPageJson {
  jsonChunks: string[];
  /** The UTF-8 length of the whole text. */
  jsonBytes: number;
  ids: string[];
  nextCursor: string | null;
}

/**
 * One record as the JSON text the API answers (`RecordSchema`), its data spliced in as stored, as
 * a list page's records are: a read decrypts the data but does not parse it only to serialise it
 * again. `version` is for the ETag.
 */
export interface RecordJson {
  json: string;
  version: number;
}

/**
 * The record use cases. Each one writes its access-log entry before any data leaves: for changes
 * in the same transaction as the change, for reads durably before decrypting.
 */
export class Records {
  constructor(private readonly services: RecordsDeps) {}

  /** Answers the new record's JSON, its data written out once: the text sealed is the text answered. */
  async create(caller: DataCaller, collection: string, data: RecordData): Promise<RecordJson> {
    const { transactions, keyRing, accessLog, clock } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const now = clock.now().toISOString();
    const id = newId();
    const dataJson = JSON.stringify(data);
    const row = { tenant_id: tenantId, collection, id, data_enc: sealRecordDataJson(cipher, collection, id, dataJson), version: 1, created_at: now, updated_at: now };
    await transactions.run(async (trx) => {
      await ensureCollection(trx, tenantId, collection, now, this.services.config.limits.collectionsPerTenant);
      await insertRecordRow(trx, row);
      await accessLog.appendInTransaction(trx, tenantId, cipher, {
        ...accessedBy(caller),
        action: 'create',
        resource: { type: 'record', collection, id },
      });
    });
    return { json: recordJson(collection, { id, version: 1, createdAt: now, updatedAt: now }, dataJson), version: 1 };
  }

  async read(caller: DataCaller, collection: string, id: string): Promise<RecordJson> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const found = await findRecordRowForReading(db, tenantId, collection, id);
    if (!found) throw notFound();
    await accessLog.appendDurably(tenantId, cipher, {
      ...accessedBy(caller),
      action: 'read',
      resource: { type: 'record', collection, id },
    });
    const filesJson = found.hasFiles ? JSON.stringify((await filesOfRecords(db, cipher, tenantId, collection, [id])).get(id) ?? []) : '[]';
    const header = recordHeaderOf(found.row);
    return { json: recordJson(collection, header, openRecordDataJson(cipher, found.row), filesJson), version: header.version };
  }

  /** Replaces the data. With `expectedVersion` (from If-Match) a stale writer gets 409 instead of overwriting. */
  async update(caller: DataCaller, collection: string, id: string, data: RecordData, expectedVersion?: number): Promise<CustomerRecord> {
    const { transactions, keyRing, accessLog, clock } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const now = clock.now().toISOString();
    return transactions.run(async (trx) => {
      const row = await findRecordRow(trx, tenantId, collection, id);
      if (!row) throw notFound();
      const current = Number(row.version);
      if (expectedVersion !== undefined && expectedVersion !== current) throw versionConflict(current);
      const changes = { data_enc: sealRecordData(cipher, collection, id, data), version: current + 1, updated_at: now };
      if (!(await updateRecordRow(trx, tenantId, collection, id, current, changes))) throw versionConflict(current);
      await accessLog.appendInTransaction(trx, tenantId, cipher, {
        ...accessedBy(caller),
        action: 'update',
        resource: { type: 'record', collection, id },
      });
      const files = await filesOfRecords(trx, cipher, tenantId, collection, [id]);
      return { id, collection, data, version: changes.version, createdAt: row.created_at, updatedAt: now, files: files.get(id) ?? [] };
    });
  }

  async delete(caller: DataCaller, collection: string, id: string): Promise<void> {
    const { transactions, keyRing, accessLog, fileBlobs } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const blobs = await transactions.run(async (trx) => {
      if (!(await deleteRecordRow(trx, tenantId, collection, id))) throw notFound();
      const fileBlobsOfRecord = await deleteRecordFileRows(trx, tenantId, collection, id);
      await accessLog.appendInTransaction(trx, tenantId, cipher, {
        ...accessedBy(caller),
        action: 'delete',
        resource: { type: 'record', collection, id },
      });
      return fileBlobsOfRecord;
    });
    // Its files' blobs go once nothing names them any more.
    for (const storageId of blobs) await fileBlobs.remove(tenantId, storageId).catch(() => undefined);
  }

  /**
   * The tenant's collections with their record counts and stored bytes: metadata, no contents.
   * Still an access (what exists and how much is kept), so it appends one `list` entry on resource
   * `collections`, naming the collections shown, durably before the answer leaves.
   */
  /** A page of the tenant's collections (names, record counts, stored bytes: no contents), logged as one `list` entry naming them. */
  async collections(caller: DataCaller, options: { limit: number; cursor?: string }): Promise<{ items: CollectionSummary[]; nextCursor: string | null }> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const afterName = options.cursor === undefined ? undefined : decodeCollectionCursor(options.cursor);
    const cipher = await keyRing.cipherFor(tenantId);
    const candidates = await listCollectionSummaries(db, tenantId, afterName, options.limit + 1);
    const summaries = candidates.slice(0, options.limit);
    await accessLog.appendDurably(tenantId, cipher, {
      ...accessedBy(caller),
      action: 'list',
      resource: { type: 'collections' },
      details: { collections: summaries.map((summary) => summary.name) },
    });
    const nextCursor = candidates.length > options.limit ? encodeCollectionCursor(summaries[summaries.length - 1]!.name) : null;
    return { items: summaries, nextCursor };
  }

  /**
   * One page of a collection, at most `limit` records and ending early before its body would pass
   * CONFIDE_LIST_MAX_BYTES (always at least one record). The page is planned from stored sizes, so
   * its single `list` entry names exactly the ids it returns and is durable before any record is
   * decrypted. Memory stays at about one page; the work is sliced so the event loop keeps turning.
   */
  async list(caller: DataCaller, collection: string, options: { limit: number; cursor?: string }): Promise<RecordPageJson> {
    const { db, keyRing, accessLog, config } = this.services;
    const tenantId = caller.principal.tenantId;
    const afterId = options.cursor === undefined ? undefined : decodeRecordCursor(options.cursor);
    const cipher = await keyRing.cipherFor(tenantId);
    const sizes = await listRecordSizes(db, tenantId, collection, afterId, options.limit + 1);
    // Each record's files count in the plan too: a bound of their JSON from how many there are.
    const counts = await fileCounts(db, tenantId, collection, sizes.map((record) => record.id));
    const withFiles = (record: RecordSize) => ({ ...record, filesBytes: (counts.get(record.id) ?? 0) * FILE_JSON_AT_MOST });
    const candidates = sizes.map(withFiles);
    const planned = planRecordPage(collection, candidates.slice(0, options.limit), config.lists.maxBytes);
    const rows = await readPlannedRows(db, tenantId, collection, planned);
    // A record may have grown or gone since the plan: the page is what was read, planned again.
    const page = planRecordPage(collection, rows.map((row) => withFiles(sizeOf(row))), config.lists.maxBytes);
    const stoppedEarly = page.length < rows.length;
    const more = stoppedEarly || planned.length < candidates.length;
    const lastId = stoppedEarly ? page[page.length - 1]!.id : planned[planned.length - 1]?.id;
    const ids = page.map((record) => record.id);
    await accessLog.appendDurably(tenantId, cipher, {
      ...accessedBy(caller),
      action: 'list',
      resource: { type: 'collection', collection },
      details: { ids },
    });
    const nextCursor = more && lastId !== undefined ? encodeRecordCursor(lastId) : null;
    const files = await filesOfRecords(db, cipher, tenantId, collection, ids);
    const items = await takeRecordsJson(cipher, collection, rows.splice(0, page.length), (id) => JSON.stringify(files.get(id) ?? []));
    const jsonChunks = pageJsonChunks(items, nextCursor);
    const jsonBytes = jsonChunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk), 0);
    return { jsonChunks, jsonBytes, ids, nextCursor };
  }
}

function versionConflict(current: number): AppError {
  return new AppError('CONFLICT', {
    message: 'The record has changed since you read it.',
    details: { reason: 'version_mismatch', currentVersion: current },
  });
}

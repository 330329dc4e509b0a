import type { Services } from '../core/services.js';
import { actorOf, type Caller } from '../core/principal.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { decodeRecordCursor, encodeRecordCursor } from './list-cursor.js';
import { openRecord, sealRecordData, type CustomerRecord, type RecordData } from './record.js';
import {
  deleteRecordRow,
  ensureCollection,
  findRecordRow,
  insertRecordRow,
  listRecordRows,
  updateRecordRow,
} from './record-repository.js';

export interface RecordPage {
  items: CustomerRecord[];
  nextCursor: string | null;
}

/**
 * The record use cases. Each one writes its access-log entry before any data leaves: for changes
 * in the same transaction as the change, for reads durably before decrypting.
 */
export class Records {
  constructor(private readonly services: Services) {}

  async create(caller: Caller, collection: string, data: RecordData): Promise<CustomerRecord> {
    const { transactions, keyRing, accessLog, clock } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const now = clock.now().toISOString();
    const id = newId();
    const row = { tenant_id: tenantId, collection, id, data_enc: sealRecordData(cipher, collection, id, data), version: 1, created_at: now, updated_at: now };
    await transactions.run(async (trx) => {
      await ensureCollection(trx, tenantId, collection, now);
      await insertRecordRow(trx, row);
      await accessLog.appendInTransaction(trx, tenantId, cipher, {
        actor: actorOf(caller.principal),
        action: 'create',
        resource: { type: 'record', collection, id },
        ip: caller.ip,
      });
    });
    return { id, collection, data, version: 1, createdAt: now, updatedAt: now };
  }

  async read(caller: Caller, collection: string, id: string): Promise<CustomerRecord> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const row = await findRecordRow(db, tenantId, collection, id);
    if (!row) throw notFound();
    await accessLog.appendDurably(tenantId, cipher, {
      actor: actorOf(caller.principal),
      action: 'read',
      resource: { type: 'record', collection, id },
      ip: caller.ip,
    });
    return openRecord(cipher, row);
  }

  /** Replaces the data. With `expectedVersion` (from If-Match) a stale writer gets 409 instead of overwriting. */
  async update(caller: Caller, collection: string, id: string, data: RecordData, expectedVersion?: number): Promise<CustomerRecord> {
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
        actor: actorOf(caller.principal),
        action: 'update',
        resource: { type: 'record', collection, id },
        ip: caller.ip,
      });
      return { id, collection, data, version: changes.version, createdAt: row.created_at, updatedAt: now };
    });
  }

  async delete(caller: Caller, collection: string, id: string): Promise<void> {
    const { transactions, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    await transactions.run(async (trx) => {
      if (!(await deleteRecordRow(trx, tenantId, collection, id))) throw notFound();
      await accessLog.appendInTransaction(trx, tenantId, cipher, {
        actor: actorOf(caller.principal),
        action: 'delete',
        resource: { type: 'record', collection, id },
        ip: caller.ip,
      });
    });
  }

  /** One page of a collection; its single `list` entry names every id it returns. */
  async list(caller: Caller, collection: string, options: { limit: number; cursor?: string }): Promise<RecordPage> {
    const { db, keyRing, accessLog } = this.services;
    const tenantId = caller.principal.tenantId;
    const afterId = options.cursor === undefined ? undefined : decodeRecordCursor(options.cursor);
    const cipher = await keyRing.cipherFor(tenantId);
    const rows = await listRecordRows(db, tenantId, collection, afterId, options.limit + 1);
    const page = rows.slice(0, options.limit);
    await accessLog.appendDurably(tenantId, cipher, {
      actor: actorOf(caller.principal),
      action: 'list',
      resource: { type: 'collection', collection },
      details: { ids: page.map((row) => row.id) },
      ip: caller.ip,
    });
    return {
      items: page.map((row) => openRecord(cipher, row)),
      nextCursor: rows.length > options.limit ? encodeRecordCursor(page[page.length - 1]!.id) : null,
    };
  }
}

function versionConflict(current: number): AppError {
  return new AppError('CONFLICT', {
    message: 'The record has changed since you read it.',
    details: { currentVersion: current },
  });
}

import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { accessedBy, type DataCaller } from '../core/principal.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { sealStream } from '../lib/stream-aead.js';
import { authenticatedBody } from './authenticated-body.js';
import { blobAssociatedData, openFileSecrets, sealFileSecrets, type FilePlace } from './file-secrets.js';
import { fileView, type FileView } from './file-view.js';
import type { FilesDeps } from './files-deps.js';
import { MeteredBody, fileTooLarge } from './metered-body.js';
import { newStorageId } from './blob-store.js';
import { claimUpload, dropClaim, settleUpload } from './upload-claims.js';
import { countFiles, deleteFileRow, findFileRow, insertFileRow, recordExists, replaceFileRow, type RecordFileRow } from './record-file-repository.js';

/** Where a file is addressed: a record of a collection, and the file's name on it. */
export interface FileAddress {
  collection: string;
  recordId: string;
  name: string;
}

/** An upload as the route hands it over: the body still streaming. */
export interface Upload {
  body: Readable;
  contentType: string;
  /** Content-Length, when the client sent one: over the limit, refused before a byte is read. */
  declaredBytes?: number;
}

export interface FileDownload {
  contentType: string;
  size: number;
  sha256: string;
  body: Readable;
}

/**
 * Files attached to records (docs/files.md). Each upload is sealed in chunks under a random key of
 * its own, stored whole or not at all, and its key is sealed under the tenant's data key in the
 * same transaction as the access-log entry. Downloads are logged durably before any byte leaves.
 */
export class RecordFiles {
  constructor(private readonly deps: FilesDeps) {}

  async upload(caller: DataCaller, address: FileAddress, upload: Upload): Promise<{ file: FileView; replaced: boolean }> {
    const { db, keyRing, config, fileBlobs } = this.deps;
    const tenantId = caller.principal.tenantId;
    const { collection, recordId, name } = address;
    if (!(await recordExists(db, tenantId, collection, recordId))) throw notFound();
    if (!(await findFileRow(db, tenantId, collection, recordId, name))) await this.refuseOverLimit(db, tenantId, address);
    if (upload.declaredBytes !== undefined && upload.declaredBytes > config.files.maxBytes) throw fileTooLarge(config.files.maxBytes);
    const cipher = await keyRing.cipherFor(tenantId);
    const place: FilePlace = { tenantId, collection, recordId, name, uploadId: newId() };
    const key = randomBytes(32);
    const meter = new MeteredBody(config.files.maxBytes);
    // Piped, not in the pipeline: a refused body must not destroy the request, or the 413 could not be answered.
    upload.body.once('error', (error) => meter.destroy(error));
    upload.body.pipe(meter);
    // Claimed before a byte is written, so the orphan sweep leaves the blob alone until it commits.
    const storageId = newStorageId();
    await claimUpload(db, this.deps.clock.now(), tenantId, storageId);
    try {
      await fileBlobs.putAs(tenantId, storageId, meter, sealStream(key, blobAssociatedData(place)));
    } catch (error) {
      await dropClaim(db, tenantId, storageId).catch(() => undefined);
      throw error;
    }
    const row: RecordFileRow = {
      tenant_id: tenantId,
      collection,
      record_id: recordId,
      name,
      upload_id: place.uploadId,
      storage_id: storageId,
      size: meter.bytes,
      key_enc: sealFileSecrets(cipher, place, { key, contentType: upload.contentType, sha256: meter.digest() }),
      uploaded_at: this.deps.clock.now().toISOString(),
    };
    let previous: string | undefined;
    try {
      previous = await this.commitUpload(caller, row, cipher);
    } catch (error) {
      await fileBlobs.remove(tenantId, storageId).catch(() => undefined);
      await dropClaim(db, tenantId, storageId).catch(() => undefined);
      throw error;
    }
    // The old blob goes only once nothing names it any more.
    if (previous !== undefined) await fileBlobs.remove(tenantId, previous).catch(() => undefined);
    return { file: fileView(cipher, tenantId, row), replaced: previous !== undefined };
  }

  async download(caller: DataCaller, address: FileAddress): Promise<FileDownload> {
    const { db, keyRing, accessLog, fileBlobs } = this.deps;
    const tenantId = caller.principal.tenantId;
    const row = await findFileRow(db, tenantId, address.collection, address.recordId, address.name);
    if (!row) throw notFound();
    const cipher = await keyRing.cipherFor(tenantId);
    const place: FilePlace = { tenantId, ...address, uploadId: row.upload_id };
    const secrets = openFileSecrets(cipher, place, row.key_enc);
    await accessLog.appendDurably(tenantId, cipher, { ...accessedBy(caller), action: 'download', resource: fileResource(address), details: { name: address.name } });
    const onFailure = (problem: string) => this.integrityFailed(caller, address, problem);
    const body = await authenticatedBody(fileBlobs.open(tenantId, row.storage_id), secrets.key, blobAssociatedData(place), onFailure);
    return { contentType: secrets.contentType, size: Number(row.size), sha256: secrets.sha256, body };
  }

  async remove(caller: DataCaller, address: FileAddress): Promise<void> {
    const { transactions, keyRing, accessLog, fileBlobs } = this.deps;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const storageId = await transactions.run(async (trx) => {
      const removed = await deleteFileRow(trx, tenantId, address.collection, address.recordId, address.name);
      if (removed === undefined) throw notFound();
      await accessLog.appendInTransaction(trx, tenantId, cipher, { ...accessedBy(caller), action: 'delete', resource: fileResource(address), details: { name: address.name } });
      return removed;
    });
    await fileBlobs.remove(tenantId, storageId).catch(() => undefined);
  }

  /** The row and its `upload` entry in one transaction; returns the blob a replaced file leaves behind. */
  private async commitUpload(caller: DataCaller, row: RecordFileRow, cipher: Awaited<ReturnType<FilesDeps['keyRing']['cipherFor']>>): Promise<string | undefined> {
    const { transactions, accessLog } = this.deps;
    const address = { collection: row.collection, recordId: row.record_id, name: row.name };
    return transactions.run(async (trx) => {
      // The claim ends as the row naming the blob begins, in one transaction: gone means the sweep
      // took the upload for a dead one (after UPLOAD_CLAIM_SECONDS) and the blob may be gone too.
      if (!(await settleUpload(trx, row.tenant_id, row.storage_id))) throw new AppError('CONFLICT', { message: 'The upload took too long to finish and was discarded; send it again.' });
      if (!(await recordExists(trx, row.tenant_id, row.collection, row.record_id))) throw notFound();
      const current = await findFileRow(trx, row.tenant_id, row.collection, row.record_id, row.name);
      if (current) {
        if (!(await replaceFileRow(trx, row, current.upload_id))) throw new AppError('CONFLICT', { message: 'The file was replaced meanwhile; send it again.' });
      } else {
        await this.refuseOverLimit(trx, row.tenant_id, address);
        await insertFileRow(trx, row);
      }
      const details = { name: row.name, size: Number(row.size), replaced: current !== undefined };
      await accessLog.appendInTransaction(trx, row.tenant_id, cipher, { ...accessedBy(caller), action: 'upload', resource: fileResource(address), details });
      return current?.storage_id;
    });
  }

  private async refuseOverLimit(db: FilesDeps['db'], tenantId: string, address: FileAddress): Promise<void> {
    const limit = this.deps.config.files.perRecord;
    if ((await countFiles(db, tenantId, address.collection, address.recordId)) < limit) return;
    throw new AppError('LIMIT_REACHED', { message: `A record may carry at most ${limit} files.`, details: { resource: 'files', limit } });
  }

  private integrityFailed(caller: DataCaller, address: FileAddress, problem: string): void {
    this.deps.securityEvents.record({
      type: 'files.integrityFailed',
      outcome: 'failure',
      actor: accessedBy(caller).actor,
      tenantId: caller.principal.tenantId,
      ip: caller.ip,
      details: { collection: address.collection, recordId: address.recordId, name: address.name, problem },
    });
  }
}

/** The access log names the record a file hangs off; the file's name is in the (encrypted) details. */
function fileResource(address: FileAddress) {
  return { type: 'file', collection: address.collection, id: address.recordId };
}

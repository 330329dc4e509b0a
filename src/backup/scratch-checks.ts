import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Database } from '../db/database.js';
import { verifyAccessLog } from '../audit/verify-access-log.js';
import type { AccessLogCheckpoints } from '../audit/access-log-checkpoints.js';
import type { BlobStore } from '../files/blob-store.js';
import { blobAssociatedData, openFileSecrets, type FilePlace } from '../files/file-secrets.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { openStream } from '../lib/stream-aead.js';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/** What the checks of a restored copy read: its database and keys, opened on the scratch place. */
export interface ScratchCopy {
  database: Database;
  keyRing: KeyRing;
  signingKeys: SigningKeys;
  checkpoints: AccessLogCheckpoints;
  blobs: BlobStore;
  /** Tenants deleted in the copy (their key shredded at the target): nothing of theirs can be read, by design. */
  deleted: ReadonlySet<string>;
}

/** SQLite's own check of the restored file (PostgreSQL is never the scratch place). */
export async function integrityCheck(copy: ScratchCopy): Promise<Check> {
  const rows = (await sql<{ integrity_check: string }>`pragma integrity_check`.execute(copy.database.db)).rows;
  const ok = rows.length === 1 && rows[0]!.integrity_check === 'ok';
  return { name: 'integrity_check', ok, ...(ok ? {} : { detail: rows.slice(0, 5).map((r) => r.integrity_check).join('; ') }) };
}

/** Every live tenant's access log: the hash chain, and against its latest signed checkpoint (as `confide audit verify`). */
export async function accessLogCheck(copy: ScratchCopy): Promise<Check> {
  const publicKeys = await copy.signingKeys.authenticPublicKeys();
  const tenants = (await copy.database.db.selectFrom('tenants').select('id').orderBy('id').execute()).map((row) => row.id);
  const broken: string[] = [];
  const live = tenants.filter((id) => !copy.deleted.has(id));
  for (const tenantId of live) {
    const anchor = { checkpoint: await copy.checkpoints.latest(tenantId), publicKeys };
    const report = await verifyAccessLog(copy.database.db, tenantId, await copy.keyRing.cipherFor(tenantId), anchor);
    if (!report.ok) broken.push(`tenant ${tenantId}: ${report.problems[0]?.message ?? 'does not verify'}`);
  }
  const verified = live.length;
  return broken.length === 0
    ? { name: 'access_logs', ok: true, detail: `${verified} tenant log${verified === 1 ? '' : 's'} verify against their checkpoints` }
    : { name: 'access_logs', ok: false, detail: broken.slice(0, 5).join('; ') };
}

/** Every live tenant's file blobs open with their file keys, whole, and hash to what the upload recorded. */
export async function filesCheck(copy: ScratchCopy): Promise<Check> {
  const rows = await copy.database.db.selectFrom('record_files').selectAll().orderBy('tenant_id').execute();
  const bad: string[] = [];
  let opened = 0;
  for (const row of rows.filter((r) => !copy.deleted.has(r.tenant_id))) {
    const place: FilePlace = { tenantId: row.tenant_id, collection: row.collection, recordId: row.record_id, name: row.name, uploadId: row.upload_id };
    try {
      const secrets = openFileSecrets(await copy.keyRing.cipherFor(row.tenant_id), place, row.key_enc);
      const hash = createHash('sha256');
      const sink = new Writable({ write: (chunk: Buffer, _e, done) => (hash.update(chunk), done()) });
      await pipeline(copy.blobs.open(row.tenant_id, row.storage_id), openStream(secrets.key, blobAssociatedData(place)), sink);
      if (hash.digest('hex') !== secrets.sha256) throw new Error('its content differs from the upload’s hash');
      opened += 1;
    } catch (error) {
      // Ids only: collection and file names are the customer's data, and these details travel in clear (syslog).
      bad.push(`file upload ${row.upload_id} of record ${row.record_id}, tenant ${row.tenant_id}: ${(error as Error).message}`);
    }
  }
  return bad.length === 0 ? { name: 'files', ok: true, detail: `${opened} files open` } : { name: 'files', ok: false, detail: bad.slice(0, 5).join('; ') };
}

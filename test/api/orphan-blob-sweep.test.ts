import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';
import type { IncompleteBlob } from '../../src/files/blob-store.js';
import { OrphanBlobSweep, ORPHAN_GRACE_SECONDS } from '../../src/files/orphan-blob-sweep.js';
import { claimUpload, settleUpload, UPLOAD_CLAIM_SECONDS } from '../../src/files/upload-claims.js';

const STORES = ['local', 's3'] as const;

describe.each(DIALECTS.flatMap((dialect) => STORES.map((store) => [dialect, store] as const)))('the orphan blob sweep on %s, blob store %s', (dialect, store) => {
  let t: TestApp;
  let s3: S3TestServer | undefined;
  beforeAll(async () => {
    if (store === 's3') s3 = await startS3Server();
    t = await createTestApp(dialect, { env: s3 ? { ...s3.env, CONFIDE_BLOB_STORE: `s3://${s3.bucket}/sweep` } : {} });
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  const sweep = (holder: string) => new OrphanBlobSweep(t.app.services, { holder, onError: (error) => { throw error; } });
  const blobIds = async (tenantId: string) => {
    const ids: string[] = [];
    for await (const blob of t.app.services.fileBlobs.blobs!()) if (blob.tenantId === tenantId) ids.push(blob.storageId);
    return ids.sort();
  };

  it('removes, on one node only, blobs no row names once they are an hour old, and keeps every named one', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const bytes = randomBytes(70_000);
    const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/kept.bin`, token: tenant.token, payload: bytes });
    expect(put.statusCode, put.body).toBe(201);
    const [named] = await blobIds(tenant.tenantId);
    // A blob whose row never committed (a crash between the two), written through the store itself.
    const orphan = await t.app.services.fileBlobs.put(tenant.tenantId, Readable.from([randomBytes(5000)]));
    // Local only: a temporary file a crash left mid-write.
    const partial = store === 'local' ? join(t.dataDir, 'files', tenant.tenantId, `${randomBytes(16).toString('hex')}.partial`) : undefined;
    if (partial) writeFileSync(partial, randomBytes(100));
    expect(await blobIds(tenant.tenantId)).toEqual([named, orphan, ...(partial ? [partial.split('/').pop()!] : [])].sort());

    const first = sweep('node-a');
    const second = sweep('node-b');
    expect(await first.runOnce()).toBe(0); // everything is younger than an hour
    t.clock.advance(ORPHAN_GRACE_SECONDS - 60);
    expect(await first.runOnce()).toBe(0);
    t.clock.advance(120);
    expect(await second.runOnce()).toBeNull(); // node-a holds the lease: node-b does nothing
    expect(await first.runOnce()).toBe(partial ? 2 : 1);
    expect(await blobIds(tenant.tenantId)).toEqual([named]);
    if (partial) expect(existsSync(partial)).toBe(false);
    expect(await first.runOnce()).toBe(0);

    // Once node-a stops (its lease given back), node-b takes over.
    await first.stop();
    expect(await second.runOnce()).toBe(0);
    if (store === 'local') expect(readdirSync(join(t.dataDir, 'files', tenant.tenantId))).toEqual([named]);
  });

  it.runIf(store === 's3')('deletes a tenant while S3 is down (204, not a 503 “database cannot be reached”); the sweep removes its blobs later', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/left.bin`, token: tenant.token, payload: randomBytes(3000) });
    expect(put.statusCode, put.body).toBe(201);
    expect(await blobIds(tenant.tenantId)).toHaveLength(1);
    await s3!.stop();
    let deleted;
    try {
      deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: tenant.token, payload: { confirm: tenant.tenantId, password: tenant.password } });
    } finally {
      await s3!.start();
    }
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await blobIds(tenant.tenantId)).toHaveLength(1); // left behind, named by no row
    t.clock.advance(ORPHAN_GRACE_SECONDS + 60);
    expect(await sweep('node-b').runOnce()).toBeGreaterThanOrEqual(1);
    expect(await blobIds(tenant.tenantId)).toEqual([]);
  });

  it('never removes the blob of an upload in flight, however old its storage time looks: a file acknowledged is a file kept', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const blobs = t.app.services.fileBlobs;
    const putAs = blobs.putAs.bind(blobs);
    const swept: (number | null)[] = [];
    // The worst moment: the blob is written, its row not yet committed, and the sweep runs with
    // the app clock (or a skewed storage clock, or a slow multipart upload's start time) making the
    // blob look older than the grace.
    blobs.putAs = async (...args: Parameters<typeof putAs>) => {
      await putAs(...args);
      t.clock.advance(ORPHAN_GRACE_SECONDS + 60);
      swept.push(await sweep('node-b').runOnce());
    };
    const bytes = randomBytes(20_000);
    try {
      const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/raced.bin`, token: tenant.token, payload: bytes });
      expect(put.statusCode, put.body).toBe(201);
    } finally {
      blobs.putAs = putAs;
    }
    expect(swept).toEqual([0]);
    // The row names a blob that is still there (the session has run out with the clock: read the store).
    const row = await t.app.services.db.selectFrom('record_files').select('storage_id').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow();
    expect(await blobIds(tenant.tenantId)).toEqual([row.storage_id]);
    expect(await t.app.services.db.selectFrom('worker_leases').select('name').where('name', 'like', 'file-upload:%').execute()).toEqual([]);
  });

  it('takes over the claim of an upload a crash left (older than a day by the app clock): its blob goes, and a late commit is refused', async () => {
    const tenant = await buildTenant(t);
    const storageId = randomBytes(16).toString('hex');
    await claimUpload(t.app.services.db, t.clock.now(), tenant.tenantId, storageId);
    await t.app.services.fileBlobs.putAs(tenant.tenantId, storageId, Readable.from([randomBytes(1000)]));
    t.clock.advance(UPLOAD_CLAIM_SECONDS - 60);
    expect(await sweep('node-b').runOnce()).toBe(0);
    expect(await blobIds(tenant.tenantId)).toEqual([storageId]);
    t.clock.advance(120);
    expect(await sweep('node-b').runOnce()).toBe(1);
    expect(await blobIds(tenant.tenantId)).toEqual([]);
    // The upload, had it still been running, finds its claim gone and does not commit.
    expect(await settleUpload(t.app.services.db, tenant.tenantId, storageId)).toBe(false);
  });

  it('aborts writes a crash cut short (S3 multipart uploads) once old and unclaimed, never a claimed or young one', async () => {
    const tenant = await buildTenant(t);
    const [old, claimed, young] = [0, 1, 2].map(() => randomBytes(16).toString('hex'));
    await claimUpload(t.app.services.db, t.clock.now(), tenant.tenantId, claimed!);
    const aborted: string[] = [];
    const startedAt = t.clock.now();
    const write = (storageId: string, at: Date): IncompleteBlob => ({ tenantId: tenant.tenantId, storageId, modifiedAt: at, abort: async () => void aborted.push(storageId) });
    const blobs = t.app.services.fileBlobs;
    blobs.incompleteBlobs = async function* () {
      yield write(old!, startedAt);
      yield write(claimed!, startedAt);
      yield write(young!, t.clock.now());
    };
    t.clock.advance(ORPHAN_GRACE_SECONDS + 60);
    try {
      expect(await sweep('node-b').runOnce()).toBe(1);
    } finally {
      delete blobs.incompleteBlobs;
    }
    expect(aborted).toEqual([old]);
  });
});

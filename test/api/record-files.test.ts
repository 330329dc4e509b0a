import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { rotateKey } from '../../src/key-rotation/rotate-key.js';
import { DESTROY_GRACE_MS } from '../../src/key-rotation/reencryption-worker.js';
import { STREAM_HEADER_BYTES } from '../../src/lib/stream-aead.js';

const MAX_BYTES = 256 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const BLOB_STORES = ['local', 's3'] as const;
const S3_PREFIX = 'deployment-a';

describe.each(DIALECTS.flatMap((dialect) => BLOB_STORES.map((store) => [dialect, store] as const)))('files attached to records on %s, blob store %s', (dialect, store) => {
  let t: TestApp;
  let owner: TestTenant;
  let s3: S3TestServer | undefined;
  beforeAll(async () => {
    if (store === 's3') s3 = await startS3Server();
    const storeEnv = s3 ? { ...s3.env, CONFIDE_BLOB_STORE: `s3://${s3.bucket}/${S3_PREFIX}` } : {};
    t = await createTestApp(dialect, { env: { CONFIDE_FILE_MAX_BYTES: String(MAX_BYTES), CONFIDE_FILES_PER_RECORD: '3', ...storeEnv } });
    owner = await buildTenant(t);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  /** The folder a tenant's blobs rest in: the data directory's, or where s3rver keeps the objects of the bucket. */
  const folderOf = (tenantId: string) => (s3 ? join(s3.directory, s3.bucket, S3_PREFIX, 'files', tenantId) : join(t.dataDir, 'files', tenantId));
  /** Every blob of a tenant, as the file its bytes rest in (s3rver: `<key>._S3rver_object`, beside its metadata files). */
  const blobsOf = (_t: TestApp, tenantId: string): string[] => {
    const dir = folderOf(tenantId);
    const names = existsSync(dir) ? readdirSync(dir) : [];
    return (s3 ? names.filter((name) => name.endsWith('._S3rver_object')) : names).map((name) => join(dir, name));
  };

  const url = (recordId: string, name: string, collection = 'patients') => `/v1/collections/${collection}/records/${recordId}/files/${name}`;
  const put = (tenant: TestTenant, path: string, payload: Buffer | Readable, contentType = 'application/pdf') =>
    t.request({ method: 'PUT', url: path, token: tenant.token, payload, headers: { 'content-type': contentType } });
  const get = (tenant: TestTenant, path: string) => t.request({ method: 'GET', url: path, token: tenant.token });
  const log = async (tenant: TestTenant) => (await t.request({ method: 'GET', url: '/v1/access-log?limit=500', token: tenant.token })).json().items as any[];

  it('stores a file sealed, streams it back as uploaded, lists it in the record and its page, and logs upload and download', async () => {
    const record = await buildRecord(t, owner);
    const bytes = Buffer.concat([Buffer.from('%PDF-CANARY-FILE '), randomBytes(200_000)]);
    const stored = await put(owner, url(record.id, 'scan.pdf'), bytes);
    expect(stored.statusCode, stored.body).toBe(201);
    expect(stored.json()).toMatchObject({ name: 'scan.pdf', size: bytes.length, contentType: 'application/pdf', sha256: sha256(bytes) });

    const [blob, ...others] = blobsOf(t, owner.tenantId);
    expect(others).toEqual([]);
    expect(readFileSync(blob!).includes(Buffer.from('%PDF-CANARY-FILE'))).toBe(false); // sealed at rest

    const fetched = await get(owner, url(record.id, 'scan.pdf'));
    expect(fetched.statusCode).toBe(200);
    expect(fetched.headers['content-type']).toBe('application/pdf');
    expect(Number(fetched.headers['content-length'])).toBe(bytes.length);
    expect(fetched.rawPayload.equals(bytes)).toBe(true);

    const read = (await get(owner, `/v1/collections/patients/records/${record.id}`)).json();
    expect(read.files).toEqual([{ name: 'scan.pdf', size: bytes.length, contentType: 'application/pdf', sha256: sha256(bytes), uploadedAt: stored.json().uploadedAt }]);
    const page = (await get(owner, '/v1/collections/patients/records')).json();
    expect(page.items.find((item: { id: string }) => item.id === record.id).files).toEqual(read.files);

    const entries = await log(owner);
    const transfers = entries.filter((entry) => entry.resource.type === 'file').map((entry) => [entry.action, entry.resource.id, entry.details.name]);
    expect(transfers).toEqual([['upload', record.id, 'scan.pdf'], ['download', record.id, 'scan.pdf']]);
    const verified = (await get(owner, '/v1/access-log/verify')).json();
    expect(verified.ok).toBe(true);
  });

  it('replaces a file atomically (the old blob goes after the commit) and deletes one (204, then 404)', async () => {
    const record = await buildRecord(t, owner);
    expect((await put(owner, url(record.id, 'a.txt'), Buffer.from('first'), 'text/plain')).statusCode).toBe(201);
    const before = blobsOf(t, owner.tenantId);
    const replaced = await put(owner, url(record.id, 'a.txt'), Buffer.from('second'), 'text/plain');
    expect(replaced.statusCode, replaced.body).toBe(200);
    const after = blobsOf(t, owner.tenantId);
    expect(after.length).toBe(before.length);
    expect((await get(owner, url(record.id, 'a.txt'))).body).toBe('second');
    const removed = await t.request({ method: 'DELETE', url: url(record.id, 'a.txt'), token: owner.token });
    expect(removed.statusCode).toBe(204);
    expect(blobsOf(t, owner.tenantId).length).toBe(before.length - 1);
    expect((await get(owner, url(record.id, 'a.txt'))).statusCode).toBe(404);
    expect((await log(owner)).filter((entry) => entry.resource.type === 'file' && entry.resource.id === record.id).map((entry) => entry.action)).toEqual(['upload', 'upload', 'download', 'delete']);
  });

  it('refuses a file over CONFIDE_FILE_MAX_BYTES with 413 while streaming, declared or not, and stores nothing', async () => {
    const record = await buildRecord(t, owner);
    const blobs = blobsOf(t, owner.tenantId).length;
    const declared = await put(owner, url(record.id, 'big.bin'), randomBytes(MAX_BYTES + 1));
    expect(declared.statusCode, declared.body).toBe(413);
    expect(declared.json().error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: MAX_BYTES } });
    // No Content-Length: counted as it streams, stopped past the limit.
    const streamed = await put(owner, url(record.id, 'big.bin'), Readable.from((function* () { for (let i = 0; i < 8; i += 1) yield randomBytes(64 * 1024); })()));
    expect(streamed.statusCode, streamed.body).toBe(413);
    expect(errorCode(streamed)).toBe('PAYLOAD_TOO_LARGE');
    expect(blobsOf(t, owner.tenantId).length).toBe(blobs);
    expect(readdirSync(folderOf(owner.tenantId)).filter((name) => name.endsWith('.partial'))).toEqual([]);
    expect((await get(owner, url(record.id, 'big.bin'))).statusCode).toBe(404);
    expect((await get(owner, `/v1/collections/patients/records/${record.id}`)).json().files).toEqual([]);
  });

  it('answers 404 for a missing record or another tenant’s, refuses bad names, and caps files per record', async () => {
    const other = await buildTenant(t);
    const record = await buildRecord(t, owner);
    const missing = await put(owner, url('01920000-0000-7000-8000-000000000001', 'x.txt'), Buffer.from('x'));
    const foreign = await put(other, url(record.id, 'x.txt'), Buffer.from('x'));
    expect([missing.statusCode, foreign.statusCode]).toEqual([404, 404]);
    expect(foreign.body.replace(/"requestId":"[^"]+"/, '')).toBe(missing.body.replace(/"requestId":"[^"]+"/, ''));
    expect(blobsOf(t, other.tenantId)).toEqual([]);
    expect((await put(owner, url(record.id, '..'), Buffer.from('x'))).statusCode).toBe(404); // the URL resolves to no route
    for (const name of ['a..b', '.hidden', 'a%2Fb', 'x'.repeat(129)]) expect((await put(owner, url(record.id, name), Buffer.from('x'))).statusCode, name).toBe(400);
    for (const name of ['1', '2', '3']) expect((await put(owner, url(record.id, name), Buffer.from(name))).statusCode).toBe(201);
    const fourth = await put(owner, url(record.id, '4'), Buffer.from('4'));
    expect(fourth.statusCode).toBe(409);
    expect(fourth.json().error).toMatchObject({ code: 'LIMIT_REACHED', details: { resource: 'files', limit: 3 } });
    expect((await put(owner, url(record.id, '3'), Buffer.from('three'))).statusCode).toBe(200); // replacing is no new file
  });

  it('refuses a blob with a flipped byte or cut short: 500 before the first byte, a broken transfer after it, and a security event', async () => {
    const record = await buildRecord(t, owner);
    const small = randomBytes(1000);
    const large = randomBytes(200_000); // four 64 KiB chunks
    const earlier = new Set(blobsOf(t, owner.tenantId));
    expect((await put(owner, url(record.id, 'small.bin'), small)).statusCode).toBe(201);
    const blobOfSmall = blobsOf(t, owner.tenantId).find((file) => !earlier.has(file))!;
    const sealed = readFileSync(blobOfSmall);
    sealed[sealed.length - 20]! ^= 0x01;
    writeFileSync(blobOfSmall, sealed);
    const flipped = await get(owner, url(record.id, 'small.bin'));
    expect(flipped.statusCode).toBe(500);
    expect(flipped.json().error).toMatchObject({ code: 'INTERNAL', details: { reason: 'file_integrity' } });

    const known = new Set(blobsOf(t, owner.tenantId));
    expect((await put(owner, url(record.id, 'large.bin'), large)).statusCode).toBe(201);
    const blobOfLarge = blobsOf(t, owner.tenantId).find((file) => !known.has(file))!;
    truncateSync(blobOfLarge, STREAM_HEADER_BYTES + 3 * (64 * 1024 + 16)); // cut at a chunk boundary: the final chunk gone
    const cut = await get(owner, url(record.id, 'large.bin')).catch((error: unknown) => error);
    // The first chunks authenticated and left; then the transfer broke: never a complete 200.
    if (!(cut instanceof Error)) expect((cut as { rawPayload: Buffer }).rawPayload.length).toBeLessThan(large.length);
    await t.app.services.securityEvents.flush();
    const events = (await t.request({ method: 'GET', url: '/v1/security-events?type=files.integrityFailed', token: owner.token })).json().items;
    expect(events.map((event: any) => event.details?.problem).sort()).toEqual(['altered', 'truncated']);
  });

  it('still opens a file after the tenant’s key rotated: the wrapped file key is re-sealed, the blob is not rewritten', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const bytes = randomBytes(70_000);
    expect((await put(tenant, url(record.id, 'kept.bin'), bytes)).statusCode).toBe(201);
    const [blob] = blobsOf(t, tenant.tenantId);
    const blobBefore = readFileSync(blob!);
    const keyBefore = (await t.app.services.db.selectFrom('record_files').select('key_enc').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow()).key_enc;
    expect(keyBefore).toMatch(/^c1\.A256GCM\.1\./);
    await rotateKey(t.app.services, tenant.tenantId, { actor: { type: 'system', id: 'host:test' }, requestedBy: 'host:test' });
    let outcome = await t.app.keyRotation.runOnce();
    if (outcome.includes('waiting')) {
      t.clock.advance(DESTROY_GRACE_MS / 1000 + 1);
      outcome = await t.app.keyRotation.runOnce();
    }
    expect(outcome).toContain('done');
    const keyAfter = (await t.app.services.db.selectFrom('record_files').select('key_enc').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow()).key_enc;
    expect(keyAfter).toMatch(/^c1\.A256GCM\.2\./);
    expect(readFileSync(blob!).equals(blobBefore)).toBe(true);
    const fetched = await get(tenant, url(record.id, 'kept.bin'));
    expect(fetched.statusCode).toBe(200);
    expect(fetched.rawPayload.equals(bytes)).toBe(true);
  });

  it.runIf(store === 's3')('answers 503 storage_failed while the S3 service is down, stores nothing, and works again once it is back', async () => {
    const record = await buildRecord(t, owner);
    await s3!.stop();
    try {
      const refused = await put(owner, url(record.id, 'down.bin'), randomBytes(100_000));
      expect(refused.statusCode, refused.body).toBe(503);
      expect(refused.json().error).toMatchObject({ code: 'UNAVAILABLE', details: { reason: 'storage_failed', component: 'files' } });
      expect(refused.body).not.toMatch(/S3RVER|127\.0\.0\.1|X-Amz/);
    } finally {
      await s3!.start();
    }
    expect((await get(owner, `/v1/collections/patients/records/${record.id}`)).json().files).toEqual([]);
    expect((await put(owner, url(record.id, 'down.bin'), randomBytes(1000))).statusCode).toBe(201);
  });

  it('removes a record’s blobs with the record, and a tenant’s with the tenant', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const kept = await buildRecord(t, tenant);
    expect((await put(tenant, url(record.id, 'one.bin'), randomBytes(10))).statusCode).toBe(201);
    expect((await put(tenant, url(kept.id, 'two.bin'), randomBytes(10))).statusCode).toBe(201);
    expect(blobsOf(t, tenant.tenantId).length).toBe(2);
    expect((await t.request({ method: 'DELETE', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token })).statusCode).toBe(204);
    expect(blobsOf(t, tenant.tenantId).length).toBe(1);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: tenant.token, payload: { confirm: tenant.tenantId } });
    expect(deleted.statusCode, deleted.body).toBe(204);
    if (s3) expect(blobsOf(t, tenant.tenantId)).toEqual([]);
    else expect(existsSync(join(t.dataDir, 'files', tenant.tenantId))).toBe(false);
  });
});

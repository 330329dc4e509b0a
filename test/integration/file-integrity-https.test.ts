import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';
import { STREAM_HEADER_BYTES } from '../../src/lib/stream-aead.js';

const CHUNK = 64 * 1024;

interface Received {
  status: number;
  contentLength: number;
  bytes: number;
  /** Whether the body ended cleanly, or the connection broke under it. */
  ending: 'complete' | 'broken';
}

/** A download over real HTTPS, as a client sees it: status, declared length, what arrived, how it ended. */
function download(port: number, path: string, token: string): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let bytes = 0;
      let done = false;
      const finish = (ending: Received['ending']) => {
        if (done) return;
        done = true;
        resolve({ status: response.statusCode ?? 0, contentLength: Number(response.headers['content-length']), bytes, ending });
      };
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => finish(response.complete ? 'complete' : 'broken'));
      response.on('aborted', () => finish('broken'));
      response.on('error', () => finish('broken'));
      response.on('close', () => finish(response.complete ? 'complete' : 'broken'));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(['local', 's3'] as const)('a blob that fails its check after the answer began, over HTTPS, blob store %s', (store) => {
  let t: TestApp;
  let s3: S3TestServer | undefined;
  let port: number;
  let owner: TestTenant;
  beforeAll(async () => {
    if (store === 's3') s3 = await startS3Server();
    t = await createTestApp('sqlite', { env: s3 ? { ...s3.env, CONFIDE_BLOB_STORE: `s3://${s3.bucket}/integrity` } : {} });
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.publicServer.server.address() as AddressInfo).port;
    owner = await buildTenant(t);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  /** Uploads 4.5 chunks of random bytes and returns the file its sealed bytes rest in. */
  async function uploaded(name: string): Promise<{ url: string; blob: string; size: number }> {
    const record = await buildRecord(t, owner);
    const bytes = randomBytes(4 * CHUNK + CHUNK / 2);
    const url = `/v1/collections/patients/records/${record.id}/files/${name}`;
    expect((await t.request({ method: 'PUT', url, token: owner.token, payload: bytes })).statusCode).toBe(201);
    const row = await t.app.services.db.selectFrom('record_files').select('storage_id').where('record_id', '=', record.id).executeTakeFirstOrThrow();
    const dir = s3 ? join(s3.directory, s3.bucket, 'integrity', 'files', owner.tenantId) : join(t.dataDir, 'files', owner.tenantId);
    const file = readdirSync(dir).find((entry) => entry === row.storage_id || entry === `${row.storage_id}._S3rver_object`)!;
    return { url, blob: join(dir, file), size: bytes.length };
  }

  it('a byte flipped in a later chunk: 200 and its Content-Length go out, then the connection breaks short of it', async () => {
    const { url, blob, size } = await uploaded('flipped.bin');
    const sealed = readFileSync(blob);
    sealed[sealed.length - 30]! ^= 0x01; // in the last chunk
    writeFileSync(blob, sealed);
    const received = await download(port, url, owner.token);
    expect(received).toMatchObject({ status: 200, contentLength: size, ending: 'broken' });
    expect(received.bytes).toBeLessThan(size);
  });

  it('an object cut at a chunk boundary (the final chunk gone): the same, never a complete-looking file', async () => {
    const { url, blob, size } = await uploaded('cut.bin');
    truncateSync(blob, STREAM_HEADER_BYTES + 3 * (CHUNK + 16));
    const received = await download(port, url, owner.token);
    expect(received).toMatchObject({ status: 200, contentLength: size, ending: 'broken' });
    expect(received.bytes).toBeLessThanOrEqual(3 * CHUNK);
  });
});

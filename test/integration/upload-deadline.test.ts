import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  status: number | null;
  body: string;
  /** How the exchange ended: an answer, or the connection cut under the client. */
  outcome: 'answered' | 'cut';
  ms: number;
}

/**
 * One HTTPS request whose body is written piece by piece: `pieces` buffers, `gapMs` apart, and then
 * either the end (`finish`) or nothing more (a stalled client, until the server acts).
 */
function sendSlowly(port: number, method: string, path: string, token: string, pieces: Buffer[], gapMs: number, options: { finish: boolean; contentType?: string }): Promise<Sent> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (sent: Omit<Sent, 'ms'>) => {
      if (!settled) resolve({ ...sent, ms: Date.now() - started });
      settled = true;
    };
    const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
    const req = request({
      host: '127.0.0.1',
      port,
      method,
      path,
      rejectUnauthorized: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': options.contentType ?? 'application/octet-stream', 'content-length': options.finish ? total : total + 1 },
    });
    req.on('response', (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => settle({ status: response.statusCode ?? null, body, outcome: 'answered' }));
      response.on('error', () => settle({ status: response.statusCode ?? null, body, outcome: 'cut' }));
    });
    req.on('error', () => settle({ status: null, body: '', outcome: 'cut' }));
    void (async () => {
      for (const piece of pieces) {
        if (settled || req.destroyed) return;
        req.write(piece);
        await sleep(gapMs);
      }
      if (options.finish) req.end();
    })();
  });
}

/**
 * A raw request whose headers declare `declaredBytes` of body, then a byte every `gapMs` for at most
 * `forMs`: how long until the server cut the connection (or `null`: it never did), and what it answered.
 */
function trickleRaw(port: number, head: string, gapMs: number, forMs: number): Promise<{ cutAfterMs: number | null; answer: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => socket.write(head));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const drip = setInterval(() => {
      if (Date.now() - started > forMs) {
        clearInterval(drip);
        socket.destroy();
        return resolve({ cutAfterMs: null, answer });
      }
      if (!socket.destroyed) socket.write('x');
    }, gapMs);
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ cutAfterMs: Date.now() - started, answer });
    });
  });
}

describe('request deadlines: a fixed total for ordinary requests, progress for streamed uploads', () => {
  let t: TestApp;
  let port: number;
  let owner: TestTenant;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { env: { CONFIDE_REQUEST_TIMEOUT_SECONDS: '2', CONFIDE_UPLOAD_STALL_SECONDS: '2' } });
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.publicServer.server.address() as AddressInfo).port;
    owner = await buildTenant(t);
  });
  afterAll(async () => t?.close());

  const fileUrl = (recordId: string, name: string) => `/v1/collections/patients/records/${recordId}/files/${name}`;

  it('takes a slow but steady upload that lasts well past the request timeout, whole', { timeout: 30_000 }, async () => {
    const record = await buildRecord(t, owner);
    // 40 pieces of 16 KiB, 150 ms apart: ~6 s at ~100 KiB/s, three times the 2 s request timeout.
    const pieces = Array.from({ length: 40 }, () => randomBytes(16 * 1024));
    const sent = await sendSlowly(port, 'PUT', fileUrl(record.id, 'slow.bin'), owner.token, pieces, 150, { finish: true });
    expect(sent.ms).toBeGreaterThan(4_000);
    expect(sent, sent.body).toMatchObject({ status: 201, outcome: 'answered' });
    const whole = Buffer.concat(pieces);
    expect(JSON.parse(sent.body)).toMatchObject({ size: whole.length, sha256: createHash('sha256').update(whole).digest('hex') });
  });

  it('cuts an upload that stalls, and one that trickles under 64 KiB per stall window; nothing is stored', { timeout: 30_000 }, async () => {
    const record = await buildRecord(t, owner);
    const stalled = await sendSlowly(port, 'PUT', fileUrl(record.id, 'stalled.bin'), owner.token, [randomBytes(100 * 1024)], 10, { finish: false });
    // Cut between the 2 s window and a little past it (checked each second), never waited out by the client.
    expect(stalled.ms).toBeGreaterThanOrEqual(1_900);
    expect(stalled.ms).toBeLessThan(6_000);
    expect(stalled.outcome === 'cut' || stalled.status === 408, JSON.stringify(stalled)).toBe(true);
    // 1 KiB every 200 ms: 10 KiB per window, alive but far too slow to ever finish a real file.
    const trickle = await sendSlowly(port, 'PUT', fileUrl(record.id, 'trickle.bin'), owner.token, Array.from({ length: 100 }, () => randomBytes(1024)), 200, { finish: true });
    expect(trickle.ms).toBeLessThan(8_000);
    expect(trickle.outcome === 'cut' || trickle.status === 408, JSON.stringify(trickle)).toBe(true);
    const files = (await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token })).json().files;
    expect(files).toEqual([]);
  });

  it('keeps the bound after an early answer: a body trickled to a 404 (or a refused upload) is cut, not held open for ever', { timeout: 40_000 }, async () => {
    const declared = 1024 * 1024;
    const nope = await trickleRaw(port, `PUT /nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`, 200, 12_000);
    expect(nope.answer).toMatch(/^HTTP\/1\.1 404/);
    expect(nope.cutAfterMs, 'the connection was never cut').not.toBeNull();
    expect(nope.cutAfterMs!).toBeLessThan(5_000);
    // A file upload refused before its body (an unknown record: 404, no token: 401): the trickle is cut as well.
    const fileHead = (token: string) => `PUT ${fileUrl(randomUUID(), 'x.bin')} HTTP/1.1\r\nHost: x\r\n${token}Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`;
    for (const token of ['', `Authorization: Bearer ${owner.token}\r\n`]) {
      const refused = await trickleRaw(port, fileHead(token), 200, 12_000);
      expect(refused.answer).toMatch(/^HTTP\/1\.1 40[14]/);
      expect(refused.cutAfterMs, `${refused.answer.slice(0, 12)}: the connection was never cut`).not.toBeNull();
      expect(refused.cutAfterMs!).toBeLessThan(5_000);
    }
  });

  it('keeps the total bound for every other request: a JSON body dripped past 2 s is refused 408', { timeout: 30_000 }, async () => {
    const record = await buildRecord(t, owner);
    const body = Buffer.from(JSON.stringify({ name: 'dripped slowly' }));
    const drip = Array.from(body, (byte) => Buffer.from([byte]));
    const sent = await sendSlowly(port, 'PUT', `/v1/collections/patients/records/${record.id}`, owner.token, drip, 200, { finish: true, contentType: 'application/json' });
    expect(sent.ms).toBeLessThan(4_500);
    expect(sent.status, JSON.stringify(sent)).toBe(408);
    expect(JSON.parse(sent.body).error.code).toBe('REQUEST_TIMEOUT');
    const read = (await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token })).json();
    expect(read.data.name).not.toBe('dripped slowly');
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';

describe.each(DIALECTS)('request logging on %s', (dialect) => {
  let t: TestApp;
  let owner: TestTenant;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    owner = await buildTenant(t);
  });
  afterAll(() => t.close());

  /** The log lines (parsed) that carry this response's request id, once its line has been written. */
  async function linesOf(response: LightMyRequestResponse): Promise<Array<{ line: string; entry: Record<string, unknown> }>> {
    const requestId = response.headers['x-request-id'];
    expect(requestId).toBeTruthy();
    const find = () =>
      t.logs
        .flatMap((chunk) => chunk.split('\n').filter((line) => line !== ''))
        .map((line) => ({ line, entry: JSON.parse(line) as Record<string, unknown> }))
        .filter(({ entry }) => entry.reqId === requestId);
    // The line is written when the answer has been sent, just after inject() resolves.
    await vi.waitFor(() => expect(find().length).toBeGreaterThan(0));
    return find();
  }

  it('writes one line per request, at completion: method, route pattern, status, duration, request id (ASVS 16.2.1)', async () => {
    const collection = `c${randomBytes(6).toString('hex')}`;
    const record = await buildRecord(t, owner, collection);
    const response = await t.request({ method: 'GET', url: `/v1/collections/${collection}/records/${record.id}`, token: owner.token });
    expect(response.statusCode).toBe(200);

    const lines = await linesOf(response);
    expect(lines).toHaveLength(1);
    const { entry, line } = lines[0]!;
    expect(entry).toMatchObject({
      level: 30,
      listener: 'public',
      method: 'GET',
      route: '/v1/collections/:collection/records/:id',
      statusCode: 200,
      reqId: response.headers['x-request-id'],
    });
    const durationMs = entry.durationMs as number;
    expect(typeof durationMs).toBe('number');
    expect(durationMs).toBeGreaterThanOrEqual(0);
    expect(entry.msg).toBe(`GET /v1/collections/:collection/records/:id 200 ${durationMs} ms`);
    // The pattern, not the path: neither the collection name nor the record id, nor the token.
    expect(line).not.toContain(collection);
    expect(line).not.toContain(record.id);
    expect(line).not.toContain(owner.token);
  });

  it('names the admin listener on its lines, so a staff request is told from a customer’s', async () => {
    const response = await t.admin({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    const lines = await linesOf(response);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.entry).toMatchObject({ listener: 'admin', method: 'GET', route: '/healthz', statusCode: 200 });
  });

  it('never logs the query string or a token in it, also for error answers (ASVS 16.2.5)', async () => {
    const secret = `cfs_${randomBytes(16).toString('hex')}`;
    const listed = await t.request({ method: 'GET', url: `/v1/collections/patients/records?limit=2&cursor=${secret}`, token: owner.token });
    const unknown = await t.request({ method: 'GET', url: `/v1/no-such-thing/${secret}?token=${secret}` });
    const refused = await t.request({ method: 'GET', url: `/v1/me?token=${secret}`, headers: { authorization: `Bearer ${secret}` } });
    expect(unknown.statusCode).toBe(404);
    expect(refused.statusCode).toBe(401);

    for (const [response, route] of [[listed, '/v1/collections/:collection/records'], [unknown, '(no route)'], [refused, '/v1/me']] as const) {
      const lines = await linesOf(response);
      expect(lines).toHaveLength(1);
      expect(lines[0]!.entry).toMatchObject({ method: 'GET', route, statusCode: response.statusCode });
    }
    const everything = t.logs.join('');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain('cursor=');
  });

  it('drops Fastify’s own per-request pair ("incoming request", "request completed")', async () => {
    await t.request({ method: 'GET', url: '/healthz' });
    const messages = t.logs.join('');
    expect(messages).not.toContain('incoming request');
    expect(messages).not.toContain('request completed');
  });
});

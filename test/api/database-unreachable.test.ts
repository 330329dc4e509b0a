import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { DIALECTS, createPostgresSchema, postgresBaseUrl, type PostgresSchema } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/**
 * Issue 12, item 6: while a PostgreSQL failover runs, Confide's connections break and new ones are
 * closed at once (HAProxy, in front of the primary, has no server to route to). Requests then
 * answer 503 UNAVAILABLE `database_unavailable` with Retry-After, not 500 INTERNAL: the condition
 * passes by itself. Once a primary answers again the same process serves, on fresh connections.
 * The failover is played by a TCP proxy between Confide and the test server, cut and restored.
 */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  readonly server: Server;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.cut) return client.destroy(); // what HAProxy does with no server up
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  /** The primary dies: every connection breaks, and new ones are closed as they open. */
  fail(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** A new primary takes over. */
  recover(): void {
    this.cut = false;
  }

  close(): Promise<void> {
    this.fail();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe.runIf(DIALECTS.includes('postgres'))('PostgreSQL unreachable (a failover) answers 503 and recovers', () => {
  let t: TestApp;
  let proxy: CuttableProxy;
  let tenant: TestTenant;
  let schema: PostgresSchema;

  beforeAll(async () => {
    const base = new URL(postgresBaseUrl());
    proxy = new CuttableProxy({ host: base.hostname, port: Number(base.port) });
    const port = await proxy.listen();
    // A schema of its own, reached through the proxy.
    schema = await createPostgresSchema();
    const url = new URL(schema.url);
    url.port = String(port);
    t = await createTestApp('postgres', { env: { CONFIDE_DATABASE_URL: url.toString() } });
    tenant = await buildTenant(t);
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await schema?.drop();
  });

  it('a write and a read while it is away: 503 UNAVAILABLE database_unavailable, Retry-After, the contract’s shape', async () => {
    const record = await buildRecord(t, tenant, 'notes', { text: 'before' });
    proxy.fail();
    try {
      const write = await t.request({ method: 'POST', url: '/v1/collections/notes/records', token: tenant.token, payload: { text: 'during' } });
      const read = await t.request({ method: 'GET', url: `/v1/collections/notes/records/${record.id}`, token: tenant.token });
      for (const answer of [write, read]) {
        expect(answer.statusCode, answer.body).toBe(503);
        expect(answer.headers['retry-after']).toBe('5');
        expect(answer.json()).toEqual({
          error: {
            code: 'UNAVAILABLE',
            message: 'The database cannot be reached just now; try again shortly.',
            requestId: expect.any(String),
            details: { reason: 'database_unavailable', component: 'database' },
          },
        });
      }
      expect(JSON.stringify(t.logs)).not.toContain(new URL(postgresBaseUrl()).password || 'no-password-in-url');
    } finally {
      proxy.recover();
    }
    const after = await t.request({ method: 'POST', url: '/v1/collections/notes/records', token: tenant.token, payload: { text: 'after' } });
    expect(after.statusCode, after.body).toBe(201);
    const reread = await t.request({ method: 'GET', url: `/v1/collections/notes/records/${record.id}`, token: tenant.token });
    expect(reread.json().data).toEqual({ text: 'before' });
  });
});

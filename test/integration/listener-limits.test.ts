import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { httpsJson, startServerProcess } from '../harness/server-process.js';
import { freePort } from '../harness/free-port.js';


describe('listener limits', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.publicServer.server.address() as { port: number }).port;
  });
  afterAll(() => t.close());

  // Slowloris: a client that never finishes its headers is cut off after ~10 s, while a
  // well-behaved client keeps being served meanwhile.
  it('closes a connection whose headers do not arrive within the header timeout', { timeout: 30_000 }, async () => {
    const started = Date.now();
    const slow = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve) => slow.once('secureConnect', () => resolve()));
    slow.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const drip = setInterval(() => slow.write('a'), 1000); // keeps trickling, never ends the headers
    const closedAfter = new Promise<number>((resolve) => slow.once('close', () => resolve(Date.now() - started)));
    slow.on('error', () => undefined);

    const meanwhile = await httpsJson(port, 'GET', '/healthz');
    expect(meanwhile.status).toBe(200);

    const elapsed = await closedAfter;
    clearInterval(drip);
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    expect(elapsed).toBeLessThan(20_000);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM, stops listening, closes storage and exits 0', { timeout: 60_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-stop-'));
    try {
      const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'info' };
      const port = await freePort();
      const server = await startServerProcess(env, port);
      expect((await httpsJson(port, 'GET', '/healthz')).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
      server.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(server.output()).toContain('confide stopping');
      await expect(httpsJson(port, 'GET', '/healthz')).rejects.toThrow();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

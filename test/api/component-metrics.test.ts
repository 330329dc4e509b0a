import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { parsePrometheusText, type Exposition } from '../harness/prometheus-text.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/*
 * /metrics also reports what the rate-limit store and the syslog forwarder count themselves:
 * Redis failures, and events sent, dropped and connection attempts failed. Real components: a
 * Redis address nobody listens on, a syslog collector that is down, then up.
 */

const TOKEN = randomBytes(32).toString('hex');

async function scrape(t: TestApp): Promise<Exposition> {
  const response = await t.admin({ method: 'GET', url: '/metrics', token: TOKEN });
  expect(response.statusCode, response.body).toBe(200);
  return parsePrometheusText(response.body);
}

/** A TCP listener that counts the octet-counted frames it receives (RFC 6587), and nothing more. */
async function frameCounter(port: number): Promise<{ frames: () => number; close(): Promise<void> }> {
  let frames = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let space = pending.indexOf(0x20); space > 0; space = pending.indexOf(0x20)) {
        const length = Number(pending.subarray(0, space).toString('ascii'));
        if (pending.length < space + 1 + length) return;
        frames += 1;
        pending = pending.subarray(space + 1 + length);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    frames: () => frames,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.each(DIALECTS)('component counts on /metrics (%s)', (dialect) => {
  let t: TestApp;
  let syslogPort: number;

  beforeAll(async () => {
    syslogPort = await freePort(); // the collector is down for now
    const deadRedis = await freePort();
    t = await createTestApp(dialect, {
      env: {
        CONFIDE_METRICS_TOKEN: TOKEN,
        CONFIDE_REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
        CONFIDE_SYSLOG_URL: `tcp://127.0.0.1:${syslogPort}`,
        CONFIDE_SYSLOG_BUFFER_LINES: '5',
      },
    });
  });
  afterAll(async () => t?.close());

  it('names every new series with its type, at 0 where nothing happened yet', async () => {
    const exposition = await scrape(t);
    expect(Object.fromEntries(exposition.types)).toMatchObject({
      confide_rate_limit_redis_failures_total: 'counter',
      confide_syslog_sent_total: 'counter',
      confide_syslog_dropped_total: 'counter',
      confide_syslog_connection_failures_total: 'counter',
      confide_syslog_buffered_messages: 'gauge',
    });
    expect(exposition.value('confide_syslog_sent_total')).toBe(0);
  });

  it('counts the rate-limit store’s Redis failures as requests are counted without Redis', async () => {
    const before = (await scrape(t)).value('confide_rate_limit_redis_failures_total')!;
    // The store asks Redis again at most once a second after a failure: two requests a second apart fail twice.
    for (let i = 0; i < 2; i += 1) {
      expect((await t.request({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
    const after = (await scrape(t)).value('confide_rate_limit_redis_failures_total')!;
    expect(after - before).toBeGreaterThanOrEqual(2);
    expect(after).toBe(t.app.rateLimitStats.redisFailures);
  });

  it('counts syslog connection failures and drops while the collector is down, and sends once it is up', async () => {
    const record = (n: number) => t.app.services.securityEvents.record({ type: 'apiKey.created', outcome: 'success', tenantId: 'tenant-metrics', details: { n } });
    const start = await scrape(t);
    const value = (exposition: Exposition, name: string) => exposition.value(name) ?? Number.NaN;
    for (let n = 0; n < 12; n += 1) record(n);
    await t.app.services.securityEvents.flush();
    const down = await scrape(t);
    expect(value(down, 'confide_syslog_buffered_messages')).toBe(5);
    // Whatever the sign-up events before left in the buffer, 12 more into 5 places drop at least 7.
    expect(value(down, 'confide_syslog_dropped_total') - value(start, 'confide_syslog_dropped_total')).toBeGreaterThanOrEqual(7);
    await vi.waitFor(async () => expect(value(await scrape(t), 'confide_syslog_connection_failures_total')).toBeGreaterThan(0), { timeout: 10_000, interval: 100 });
    expect(value(down, 'confide_syslog_sent_total')).toBe(0);

    const collector = await frameCounter(syslogPort);
    try {
      await vi.waitFor(() => expect(collector.frames()).toBe(5), { timeout: 15_000, interval: 50 });
      const up = await scrape(t);
      expect(value(up, 'confide_syslog_sent_total')).toBe(5);
      expect(value(up, 'confide_syslog_buffered_messages')).toBe(0);
      record(99);
      await vi.waitFor(async () => expect(value(await scrape(t), 'confide_syslog_sent_total')).toBe(6), { timeout: 10_000, interval: 50 });
    } finally {
      await collector.close();
    }
  }, 40_000);
});

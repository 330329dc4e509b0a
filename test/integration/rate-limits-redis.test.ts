import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { expectRateLimited, floodWithBystander, p99, untilLimited } from '../harness/rate-limit-probe.js';
import { startTemporaryRedis, type TemporaryRedis } from '../harness/redis-server.js';

const BYSTANDER_P99_BUDGET_MS = 1_500;
/** Each test's own addresses, so counters left in the shared Redis by an earlier run never meet it. */
const address = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe.each(DIALECTS)('rate limits shared through Redis on %s', (dialect) => {
  const redisUrl = inject('redisUrl');

  describe('two Confide nodes, one Redis', () => {
    let nodes: TestApp[];
    beforeAll(async () => {
      if (!redisUrl) throw new Error('no Redis for this test: install redis-server (apt-get install redis-server) or set CONFIDE_TEST_REDIS_URL');
      nodes = [
        await createTestApp(dialect, { env: { CONFIDE_REDIS_URL: redisUrl, CONFIDE_RATE_LIMIT_PER_IP: '10' } }),
        await createTestApp(dialect, { env: { CONFIDE_REDIS_URL: redisUrl, CONFIDE_RATE_LIMIT_PER_IP: '10' } }),
      ];
    });
    afterAll(async () => {
      for (const node of nodes ?? []) await node.close();
    });

    it('the per-address limit is global: requests split across both nodes hit it at the same total', async () => {
      const source = address();
      let next = 0;
      const { passed, limited } = await untilLimited(() => nodes[next++ % 2]!.request({ method: 'GET', url: '/healthz', remoteAddress: source }));
      expect(passed).toBe(10);
      expectRateLimited(limited, 10);
      // Both nodes now refuse it, and neither refuses another address.
      for (const node of nodes) expectRateLimited(await node.request({ method: 'GET', url: '/healthz', remoteAddress: source }), 10);
      for (const node of nodes) expect((await node.request({ method: 'GET', url: '/healthz', remoteAddress: address() })).statusCode).toBe(200);
      for (const node of nodes) expect(node.app.rateLimitStats.redisFailures).toBe(0);
    });

    it('one source flooding both nodes at 3× the limit gets 429s while another source is served on both, p99 within budget', async () => {
      const [flooder, bystander] = [address(), address()];
      let n = 0;
      const { flooded, served, latenciesMs } = await floodWithBystander(
        () => nodes[n++ % 2]!.request({ method: 'GET', url: '/healthz', remoteAddress: flooder }),
        () => nodes[n % 2]!.request({ method: 'GET', url: '/healthz', remoteAddress: bystander }),
        30,
        5,
      );
      expect(flooded.filter((r) => r.statusCode === 200)).toHaveLength(10);
      expect(flooded.filter((r) => r.statusCode === 429)).toHaveLength(20);
      expect(served.map((r) => r.statusCode)).toEqual(served.map(() => 200));
      expect(p99(latenciesMs)).toBeLessThan(BYSTANDER_P99_BUDGET_MS);
    });
  });

  describe('Redis failing', () => {
    let redis: TemporaryRedis;
    let t: TestApp;
    beforeAll(async () => {
      redis = await startTemporaryRedis();
      t = await createTestApp(dialect, { env: { CONFIDE_REDIS_URL: redis.url, CONFIDE_RATE_LIMIT_PER_IP: '5' } });
    });
    afterAll(async () => {
      await t?.close();
      await redis?.stop();
    });

    it('while serving does not take the API down: counts fall back to this node’s memory, logged once and counted', async () => {
      const source = address();
      for (let i = 0; i < 3; i += 1) expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: source })).statusCode).toBe(200);
      await redis.stop();
      const started = Date.now();
      const { passed, limited } = await untilLimited(() => t.request({ method: 'GET', url: '/healthz', remoteAddress: source }));
      // The node's own count starts afresh: the limit still holds, per node, and nobody waited on Redis.
      expect(passed).toBe(5);
      expectRateLimited(limited, 5);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(t.app.rateLimitStats.redisFailures).toBeGreaterThan(0);
      expect(t.logs.filter((line) => line.includes('rate limits: Redis is unreachable'))).toHaveLength(1);
    });

    it('down at start does not stop the start: one warning naming the address and CONFIDE_REDIS_URL, limits per node, shared again once Redis is up', async () => {
      const port = await freePort();
      const env = { CONFIDE_REDIS_URL: `redis://:secret-password@127.0.0.1:${port}`, CONFIDE_RATE_LIMIT_PER_IP: '5' };
      const nodes = [await createTestApp(dialect, { env }), await createTestApp(dialect, { env })];
      let late: TemporaryRedis | undefined;
      try {
        for (const node of nodes) {
          const warnings = node.logs.filter((line) => line.includes('rate limits: cannot reach Redis'));
          expect(warnings).toHaveLength(1);
          expect(warnings[0]).toContain(`cannot reach Redis at 127.0.0.1:${port} (CONFIDE_REDIS_URL)`);
          expect(warnings[0]).not.toContain('secret-password');
        }
        // Each node counts in its own memory: the limit holds on each, per node.
        const source = address();
        for (const node of nodes) {
          const { passed, limited } = await untilLimited(() => node.request({ method: 'GET', url: '/healthz', remoteAddress: source }));
          expect(passed).toBe(5);
          expectRateLimited(limited, 5);
          expect(node.app.rateLimitStats.redisFailures).toBeGreaterThan(0);
          // The outage was logged once, at start: the failed increments do not log it again.
          expect(node.logs.filter((line) => line.includes('rate limits: Redis is unreachable'))).toHaveLength(0);
        }

        // Redis comes up on that address: both nodes reconnect by themselves and count together again.
        late = await startTemporaryRedis(undefined, port);
        const probe = address();
        for (const node of nodes) {
          await vi.waitFor(
            async () => {
              await node.request({ method: 'GET', url: '/healthz', remoteAddress: probe });
              expect(node.logs.some((line) => line.includes('Redis answers again'))).toBe(true);
            },
            { timeout: 20_000, interval: 250 },
          );
        }
        const shared = address();
        let next = 0;
        const { passed, limited } = await untilLimited(() => nodes[next++ % 2]!.request({ method: 'GET', url: '/healthz', remoteAddress: shared }));
        expect(passed).toBe(5);
        expectRateLimited(limited, 5);
      } finally {
        for (const node of nodes) await node.close();
        await late?.stop();
      }
    });
  });
});

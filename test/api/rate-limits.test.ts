import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { expectRateLimited, floodWithBystander, p99, rateLimitedEvents, untilLimited } from '../harness/rate-limit-probe.js';

/** The second source's p99 latency while the first floods: generous, for a loaded 2-core machine running inject() in-process. */
const BYSTANDER_P99_BUDGET_MS = 1_500;

describe.each(DIALECTS)('rate limits on %s', (dialect) => {
  describe('per client address (SECURITY-CRITERIA abuse resistance: rate limits per IP with Retry-After)', () => {
    let t: TestApp;
    let flooder: TestTenant;
    let bystander: TestTenant;
    let recordId: string;
    beforeAll(async () => {
      t = await createTestApp(dialect, { smtp: true, env: { CONFIDE_RATE_LIMIT_PER_IP: '20' } });
      flooder = await buildTenant(t);
      bystander = await buildTenant(t);
      recordId = (await buildRecord(t, bystander)).id;
    });
    afterAll(() => t.close());

    it('one source flooding at 3× its limit gets 429s with Retry-After and RateLimit headers; another source is served throughout, p99 within budget', async () => {
      const { flooded, served, latenciesMs } = await floodWithBystander(
        () => t.request({ method: 'GET', url: '/v1/me', token: flooder.token, remoteAddress: '10.0.0.1' }),
        () => t.request({ method: 'GET', url: `/v1/collections/patients/records/${recordId}`, token: bystander.token, remoteAddress: '10.0.0.2' }),
        60,
      );
      expect(flooded.filter((r) => r.statusCode === 200)).toHaveLength(20);
      const limited = flooded.filter((r) => r.statusCode === 429);
      expect(limited).toHaveLength(40);
      for (const response of limited) expectRateLimited(response, 20);
      expect(served.map((r) => r.statusCode)).toEqual(served.map(() => 200));
      expect(served[0]!.headers['ratelimit-limit']).toBe('20'); // answers under the limit show it too
      expect(p99(latenciesMs)).toBeLessThan(BYSTANDER_P99_BUDGET_MS);
    });

    it('records sustained limiting as request.rateLimited: one event per source per minute, not one per 429', async () => {
      await t.app.services.securityEvents.flush();
      const first = rateLimitedEvents(t).filter((event) => event.ip === '10.0.0.1');
      expect(first).toEqual([expect.objectContaining({ ip: '10.0.0.1', details: { listener: 'public', limit: 'ip', count: 1 } })]);
      expect(rateLimitedEvents(t).filter((event) => event.ip === '10.0.0.2')).toEqual([]);

      // Still limited a minute later: one more event, counting every 429 since the first (39 + this one).
      t.clock.advance(61);
      expectRateLimited(await t.request({ method: 'GET', url: '/v1/me', token: flooder.token, remoteAddress: '10.0.0.1' }), 20);
      const later = rateLimitedEvents(t).filter((event) => event.ip === '10.0.0.1');
      expect(later.map((event) => event.details.count)).toEqual([1, 40]);
      await t.app.services.securityEvents.flush(); // the event is logged at once and stored just after
      const stored = await t.app.services.db.selectFrom('security_events').select('type').where('type', '=', 'request.rateLimited').execute();
      expect(stored).toHaveLength(2);
    });

    it('holds on the admin listener too, with counters of its own', async () => {
      const { passed, limited } = await untilLimited(() => t.admin({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.3' }));
      expect(passed).toBe(20);
      expectRateLimited(limited, 20);
      expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.3' })).statusCode).toBe(200);
      expect(rateLimitedEvents(t).find((event) => event.ip === '10.0.0.3')?.details).toEqual({ listener: 'admin', limit: 'ip', count: 1 });
    });

    it('counts an IPv6 client by its /64, so rotating addresses inside it does not escape the limit', async () => {
      const { passed, limited } = await untilLimited(() =>
        t.request({ method: 'GET', url: '/healthz', remoteAddress: `2001:db8:1:2::${Math.floor(Math.random() * 0xffff).toString(16)}` }),
      );
      expect(passed).toBe(20);
      expectRateLimited(limited, 20);
      expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '2001:db8:1:3::1' })).statusCode).toBe(200);
    });
  });

  describe('per account, API key and tenant', () => {
    let t: TestApp;
    let ownerA: TestTenant;
    let memberA: TestTenant;
    let ownerB: TestTenant;
    const keys: Record<'a1' | 'a2' | 'b', string> = { a1: '', a2: '', b: '' };
    beforeAll(async () => {
      t = await createTestApp(dialect, {
        smtp: true,
        env: { CONFIDE_RATE_LIMIT_PER_ACCOUNT: '6', CONFIDE_RATE_LIMIT_PER_API_KEY: '8', CONFIDE_RATE_LIMIT_PER_TENANT: '20' },
      });
      ownerA = await buildTenant(t);
      ownerB = await buildTenant(t);
      const newKey = async (owner: TestTenant) =>
        (await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'k', scope: 'read' } })).json().key as string;
      keys.a1 = await newKey(ownerA);
      keys.a2 = await newKey(ownerA);
      keys.b = await newKey(ownerB);
      memberA = await buildMember(t, ownerA);
    });
    afterAll(() => t.close());
    const me = (token: string) => t.request({ method: 'GET', url: '/v1/me', token });
    const records = (key: string) => t.request({ method: 'GET', url: '/v1/collections/patients/records', token: key });

    it('limits one signed-in user, and not another user of the same tenant, another tenant or an API key', async () => {
      const { limited } = await untilLimited(() => me(ownerA.token));
      expectRateLimited(limited, 6);
      expectRateLimited(await me(ownerA.token), 6);
      expect((await me(memberA.token)).statusCode).toBe(200);
      expect((await me(ownerB.token)).statusCode).toBe(200);
      expect((await records(keys.a1)).statusCode).toBe(200);
    });

    it('limits one API key, and not another key or a user of its tenant', async () => {
      const { limited } = await untilLimited(() => records(keys.b));
      expectRateLimited(limited, 8);
      expect((await me(ownerB.token)).statusCode).toBe(200);
      expect((await records(keys.a2)).statusCode).toBe(200);
    });

    it('limits one tenant as a whole, users and keys together, and not another tenant', async () => {
      const round = [() => me(memberA.token), () => records(keys.a1), () => records(keys.a2)];
      let next = 0;
      const { limited } = await untilLimited(() => round[next++ % round.length]!());
      expectRateLimited(limited, 20);
      for (const send of round) expectRateLimited(await send(), 20);
      expect((await me(ownerB.token)).statusCode).toBe(200);
    });

    it('limits one staff member on the admin listener', async () => {
      const staff = await buildStaff(t);
      const { limited } = await untilLimited(() => t.admin({ method: 'GET', url: '/admin/v1/me', token: staff.token }));
      expectRateLimited(limited, 6);
      const other = await buildStaff(t);
      expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token: other.token })).statusCode).toBe(200);
    });
  });
});

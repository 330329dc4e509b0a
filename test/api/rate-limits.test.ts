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
      t = await createTestApp(dialect, { smtp: true, env: { CONFIDE_RATE_LIMIT_PER_IP: '20', CONFIDE_RATE_LIMIT_PER_IPV6_NETWORK: '50' } });
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

    it('does not let one /64 flooding past its own limit spend its /48’s budget: its neighbours are still served', async () => {
      let host = 0;
      const { passed } = await untilLimited(() => t.request({ method: 'GET', url: '/healthz', remoteAddress: `2001:db8:99:1::${(host++).toString(16)}` }));
      expect(passed).toBe(20);
      for (let i = 0; i < 40; i += 1) expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '2001:db8:99:1::ffff' })).statusCode).toBe(429);
      // 20 counted against 2001:db8:99::/48 (limit 50), not 61.
      expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '2001:db8:99:2::1' })).statusCode).toBe(200);
    });

    it('counts every /64 of one IPv6 /48 together against the looser per-/48 limit, so rotating /64s inside it does not escape', async () => {
      // Per /64: 20 (CONFIDE_RATE_LIMIT_PER_IP); per /48: 50. Each request from a different /64 of 2001:db8:77::/48.
      let subnet = 0;
      const { passed, limited } = await untilLimited(() => t.request({ method: 'GET', url: '/healthz', remoteAddress: `2001:db8:77:${(subnet++).toString(16)}::1` }));
      expect(passed).toBe(50);
      expectRateLimited(limited, 50);
      expect(rateLimitedEvents(t).find((event) => event.ip.startsWith('2001:db8:77:'))?.details).toEqual({ listener: 'public', limit: 'ipv6Network', count: 1 });
      // More fresh /64s of the saturated /48 are refused too, and recorded as that one source, not one event each.
      for (let i = 0; i < 20; i += 1) expectRateLimited(await t.request({ method: 'GET', url: '/healthz', remoteAddress: `2001:db8:77:${(subnet++).toString(16)}::1` }), 50);
      expect(rateLimitedEvents(t).filter((event) => event.ip.startsWith('2001:db8:77:'))).toHaveLength(1);
      // Another site's /48, and IPv4 clients, are served.
      expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '2001:db8:78::1' })).statusCode).toBe(200);
      expect((await t.request({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.77' })).statusCode).toBe(200);
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

    it('limits one tenant’s data as a whole, users and keys together, and not another tenant', async () => {
      // Each within its own limit (the keys 8, the user 6, one request each already spent above), 20 together.
      const round = [...Array<string>(7).fill(keys.a1), ...Array<string>(7).fill(keys.a2), ...Array<string>(4).fill(memberA.token)];
      for (const token of round) expect((await records(token)).statusCode).toBe(200);
      expectRateLimited(await records(memberA.token), 20);
      expect((await records(ownerB.token)).statusCode).toBe(200);
      expect((await records(keys.b)).statusCode).toBe(429); // its own key limit, from above: not the tenant's
    });

    it('does not let a key flooding past its own limit spend its tenant’s budget: the tenant’s other callers are still served', async () => {
      for (let i = 0; i < 30; i += 1) expect((await records(keys.b)).statusCode).toBe(429); // over its own limit of 8 (above)
      // Tenant B has spent about 10 of its 20 (the key's 8 and its owner's reads), not 40.
      expect((await records(ownerB.token)).statusCode).toBe(200);
    });

    it('limits one staff member on the admin listener', async () => {
      const staff = await buildStaff(t);
      const { limited } = await untilLimited(() => t.admin({ method: 'GET', url: '/admin/v1/me', token: staff.token }));
      expectRateLimited(limited, 6);
      const other = await buildStaff(t);
      expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token: other.token })).statusCode).toBe(200);
    });
  });

  describe('managing a tenant whose data limit is spent', () => {
    let t: TestApp;
    let owner: TestTenant;
    beforeAll(async () => {
      t = await createTestApp(dialect, { smtp: true, env: { CONFIDE_RATE_LIMIT_PER_TENANT: '20' } });
      owner = await buildTenant(t);
    });
    afterAll(() => t.close());

    it('is never held back: the owner still signs in, sees and revokes the busy keys, while the keys stay limited', async () => {
      const newKey = async () => (await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'busy', scope: 'read' } })).json().key as string;
      const busy = [await newKey(), await newKey()];
      let next = 0;
      const { passed, limited } = await untilLimited(() => t.request({ method: 'GET', url: '/v1/collections/patients/records', token: busy[next++ % 2]! }));
      expect(passed).toBe(20);
      expectRateLimited(limited, 20);
      expectRateLimited(await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: owner.token }), 20); // the data budget is the tenant's

      expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(200);
      const listed = await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token });
      expect(listed.statusCode).toBe(200);
      const ids = (listed.json().items as Array<{ id: string }>).map((key) => key.id);
      expect(ids).toHaveLength(2);
      for (const id of ids) expect((await t.request({ method: 'DELETE', url: `/v1/api-keys/${id}`, token: owner.token })).statusCode).toBe(204);
      expect((await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: busy[0]! })).statusCode).toBe(401);
    });
  });
});

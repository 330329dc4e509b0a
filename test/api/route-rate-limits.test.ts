import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { expectRateLimited, rateLimitedEvents, untilLimited } from '../harness/rate-limit-probe.js';

describe.each(DIALECTS)('stricter route limits and trusted proxies on %s', (dialect) => {
  describe('sign-in, password reset and invitations: per address, on top of the sign-in throttle', () => {
    let t: TestApp;
    let owner: TestTenant;
    beforeAll(async () => {
      t = await createTestApp(dialect, {
        smtp: true,
        env: { CONFIDE_SIGNINS_PER_IP_PER_MINUTE: '3', CONFIDE_PASSWORD_RESETS_PER_IP_PER_MINUTE: '2', CONFIDE_INVITATION_SENDS_PER_IP_PER_MINUTE: '2' },
      });
      owner = await buildTenant(t);
    });
    afterAll(() => t.close());

    const cases = [
      { listener: 'public', url: '/v1/sessions', payload: { email: 'nobody@example.test', password: 'wrong-password' } },
      { listener: 'public', url: '/v1/sessions/mfa', payload: { challenge: 'no-such-challenge', code: '123456' } },
      { listener: 'admin', url: '/admin/v1/sessions', payload: { email: 'nobody@example.test', password: 'wrong-password' } },
      { listener: 'admin', url: '/admin/v1/sessions/mfa', payload: { challenge: 'no-such-challenge', code: '123456' } },
    ] as const;
    it.each(cases)('limits sign-in requests to $url per address: 3 answered, then 429; another address is still answered', async ({ listener, url, payload }) => {
      const send = (remoteAddress: string) =>
        listener === 'public' ? t.request({ method: 'POST', url, payload, remoteAddress }) : t.admin({ method: 'POST', url, payload, remoteAddress });
      const { passed, limited } = await untilLimited(async () => {
        const response = await send('10.1.0.1');
        // The failures themselves are answered by the sign-in step (the throttle allows 10 per pair): 401 or 400, never yet 429.
        return response.statusCode === 429 ? response : { ...response, statusCode: 200 };
      });
      expect(passed).toBe(3);
      expectRateLimited(limited, 3);
      expect((await send('10.1.0.2')).statusCode).not.toBe(429);
    });

    it('limits password-reset requests per address', async () => {
      const send = (remoteAddress: string) => t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: owner.email }, remoteAddress });
      const { passed, limited } = await untilLimited(() => send('10.1.0.3'));
      expect(passed).toBe(2);
      expectRateLimited(limited, 2);
      expect((await send('10.1.0.4')).statusCode).toBe(202);
      expect(rateLimitedEvents(t).find((event) => event.ip === '10.1.0.3')?.details).toEqual({ listener: 'public', limit: 'passwordReset', count: 1 });
    });

    it('limits invitation sends per address', async () => {
      let n = 0;
      const send = (remoteAddress: string) =>
        t.request({ method: 'POST', url: '/v1/invitations', token: owner.token, payload: { email: `invitee-${n++}@example.test`, role: 'member' }, remoteAddress });
      const { passed, limited } = await untilLimited(() => send('10.1.0.5'));
      expect(passed).toBe(2);
      expectRateLimited(limited, 2);
      expect((await send('10.1.0.6')).statusCode).toBe(201);
    });
  });

  describe('X-Forwarded-For (ASVS 15.3.4: a proxy header only from a trusted proxy)', () => {
    let untrusting: TestApp;
    let trusting: TestApp;
    let tenant: TestTenant;
    beforeAll(async () => {
      untrusting = await createTestApp(dialect, { smtp: true, env: { CONFIDE_RATE_LIMIT_PER_IP: '5' } });
      trusting = await createTestApp(dialect, { env: { CONFIDE_RATE_LIMIT_PER_IP: '5', CONFIDE_TRUSTED_PROXIES: '10.9.0.0/24, 192.0.2.7' } });
      tenant = await buildTenant(untrusting);
    });
    afterAll(async () => {
      await untrusting.close();
      await trusting.close();
    });

    it('ignores X-Forwarded-For from a peer that is not a trusted proxy: spoofed addresses share the peer’s limit, events and access log', async () => {
      let n = 0;
      const spoofed = () => untrusting.request({ method: 'GET', url: '/healthz', remoteAddress: '10.8.0.1', headers: { 'x-forwarded-for': `198.51.100.${n++}` } });
      const { passed, limited } = await untilLimited(spoofed);
      expect(passed).toBe(5);
      expectRateLimited(limited, 5);
      expect(rateLimitedEvents(untrusting).filter((event) => event.ip !== '127.0.0.1').map((event) => event.ip)).toEqual(['10.8.0.1']);

      const record = await buildRecord(untrusting, tenant);
      const read = await untrusting.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token, remoteAddress: '10.8.0.2', headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(read.statusCode).toBe(200);
      const log = await untrusting.request({ method: 'GET', url: '/v1/access-log?limit=100', token: tenant.token });
      const entry = (log.json().items as Array<{ action: string; ip: string }>).find((item) => item.action === 'read');
      expect(entry?.ip).toBe('10.8.0.2');
    });

    it('honours X-Forwarded-For from a trusted proxy: each client behind it has its own limit, and events name the client', async () => {
      const via = (peer: string, client: string) => trusting.request({ method: 'GET', url: '/healthz', remoteAddress: peer, headers: { 'x-forwarded-for': client } });
      const { passed, limited } = await untilLimited(() => via('10.9.0.4', '198.51.100.1'));
      expect(passed).toBe(5);
      expectRateLimited(limited, 5);
      // Another client behind the same proxy, and behind the other trusted proxy, is served.
      expect((await via('10.9.0.4', '198.51.100.2')).statusCode).toBe(200);
      expectRateLimited(await via('192.0.2.7', '198.51.100.1'), 5);
      expect(rateLimitedEvents(trusting).map((event) => event.ip)).toEqual(['198.51.100.1']);
      // A peer outside the list is the client itself, whatever header it sends.
      const { passed: direct } = await untilLimited(() => via('192.0.2.8', '198.51.100.3'));
      expect(direct).toBe(5);
      expect((await via('10.9.0.4', '198.51.100.3')).statusCode).toBe(200);
    });

    it('the admin listener has its own list: the public listener’s proxies are not believed there unless CONFIDE_ADMIN_TRUSTED_PROXIES names them', async () => {
      // CONFIDE_TRUSTED_PROXIES alone: on the admin listener, clients behind 10.9.0.5 share the peer's limit.
      let n = 0;
      const viaAdmin = (app: TestApp) => app.admin({ method: 'GET', url: '/healthz', remoteAddress: '10.9.0.5', headers: { 'x-forwarded-for': `198.51.100.${100 + (n++ % 50)}` } });
      const { passed } = await untilLimited(() => viaAdmin(trusting));
      expect(passed).toBe(5);

      const adminTrusting = await createTestApp(dialect, { env: { CONFIDE_RATE_LIMIT_PER_IP: '5', CONFIDE_ADMIN_TRUSTED_PROXIES: '10.9.0.0/24' } });
      try {
        for (let i = 0; i < 12; i += 1) expect((await viaAdmin(adminTrusting)).statusCode).toBe(200);
        // …and the public listener of that deployment believes no proxy.
        const { passed: publicPassed } = await untilLimited(() => adminTrusting.request({ method: 'GET', url: '/healthz', remoteAddress: '10.9.0.5', headers: { 'x-forwarded-for': `203.0.113.${n++ % 50}` } }));
        expect(publicPassed).toBe(5);
      } finally {
        await adminTrusting.close();
      }
    });
  });
});

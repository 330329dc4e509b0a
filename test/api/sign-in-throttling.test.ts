import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode } from '../harness/builders.js';

const MAX_FAILURES = 5;
const LOCK_SECONDS = 120;

describe.each(DIALECTS)('sign-in throttling on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, {
      env: {
        CONFIDE_SIGNIN_MAX_FAILURES: String(MAX_FAILURES),
        CONFIDE_SIGNIN_LOCK_SECONDS: String(LOCK_SECONDS),
        CONFIDE_SIGNIN_IP_MAX_FAILURES: '20',
        CONFIDE_SIGNIN_WINDOW_SECONDS: '900',
      },
    });
  });
  afterAll(() => t.close());

  let nextIp = 1;
  const freshIp = () => `198.51.100.${nextIp++ % 250}`;
  const attempt = (email: string, password: string, ip = freshIp()) =>
    t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password }, remoteAddress: ip });

  it('blocks one account after repeated wrong passwords from many IPs, even for the right password, until the lock ends', async () => {
    const owner = await buildTenant(t);
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      expect((await attempt(owner.email, `wrong-password-${i}`)).statusCode).toBe(401);
    }
    // Every guess came from another IP, yet the account is now blocked for everyone.
    const blocked = await attempt(owner.email, owner.password);
    expect(blocked.statusCode).toBe(429);
    expect(errorCode(blocked)).toBe('RATE_LIMITED');
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(LOCK_SECONDS);

    t.clock.advance(LOCK_SECONDS + 1);
    expect((await attempt(owner.email, owner.password)).statusCode).toBe(201);
  });

  it('blocks again at once when guessing resumes after a lock (the count is not reset by waiting out the lock)', async () => {
    const owner = await buildTenant(t);
    for (let i = 0; i < MAX_FAILURES; i += 1) await attempt(owner.email, `wrong-${i}`);
    t.clock.advance(LOCK_SECONDS + 1);
    expect((await attempt(owner.email, 'one-more-guess')).statusCode).toBe(401);
    expect((await attempt(owner.email, owner.password)).statusCode).toBe(429);
  });

  it('does not block other accounts, and a success clears the account’s count', async () => {
    const target = await buildTenant(t);
    const bystander = await buildTenant(t);
    for (let i = 0; i < MAX_FAILURES - 1; i += 1) await attempt(target.email, `wrong-${i}`);
    expect((await attempt(bystander.email, bystander.password)).statusCode).toBe(201);
    expect((await attempt(target.email, target.password)).statusCode).toBe(201);
    // The count started again from zero.
    for (let i = 0; i < MAX_FAILURES - 1; i += 1) await attempt(target.email, `wrong-again-${i}`);
    expect((await attempt(target.email, target.password)).statusCode).toBe(201);
  });

  it('throttles unknown accounts the same way, so blocking does not reveal which accounts exist', async () => {
    for (let i = 0; i < MAX_FAILURES; i += 1) await attempt('ghost@example.test', `guess-${i}`);
    const response = await attempt('ghost@example.test', 'guess-final');
    expect(response.statusCode).toBe(429);
  });

  it('blocks one IP that sprays guesses across many accounts', async () => {
    t.clock.advance(3600); // a fresh window for the IP counters
    const ip = '192.0.2.77';
    for (let i = 0; i < 20; i += 1) await attempt(`spray-${i}@example.test`, 'Winter2026!Winter', ip);
    const owner = await buildTenant(t);
    const fromSprayer = await attempt(owner.email, owner.password, ip);
    expect(fromSprayer.statusCode).toBe(429);
    expect((await attempt(owner.email, owner.password, '192.0.2.78')).statusCode).toBe(201);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant } from '../harness/builders.js';
import { blindIndex } from '../../src/keys/blind-index.js';
import { SessionStore, USER_SESSIONS } from '../../src/identity/session-store.js';
import { SignInThrottle, type ThrottleRealm } from '../../src/identity/sign-in-throttle.js';

// The session store and the sign-in throttle serve more than one realm (users now, staff next):
// each realm counts and resolves apart, and the users' realm keeps the stored formats it had.
describe.each(DIALECTS)('identity realms on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const throttle = (realm: ThrottleRealm) => {
    const { db, transactions, config, clock, keyRing } = t.app.services;
    return new SignInThrottle(db, transactions, config.signInThrottle, clock, () => keyRing.blindIndexKey(), realm);
  };
  const sessions = (realm = USER_SESSIONS) => {
    const { db, config, clock, keyRing } = t.app.services;
    return new SessionStore(db, { ...config.sessions, maxPerUser: config.limits.sessionsPerUser }, clock, () => keyRing.systemCipher(), realm);
  };

  it('the users’ throttle keeps its blind-index labels, so counters stored before still count', async () => {
    const email = 'realm-format@x.test';
    await throttle('user').recordFailure({ email, ip: '192.0.2.10' });
    const key = await t.app.services.keyRing.blindIndexKey();
    const rows = await t.app.services.db.selectFrom('signin_throttle').select(['key', 'failures']).execute();
    const failures = new Map(rows.map((row) => [row.key, Number(row.failures)]));
    expect(failures.get(blindIndex(key, 'throttle:sign-in:account', email))).toBe(1);
    expect(failures.get(blindIndex(key, 'throttle:sign-in:pair', `${email}\u0000192.0.2.10`))).toBe(1);
    expect(failures.get(blindIndex(key, 'throttle:source', '192.0.2.10'))).toBe(1);
  });

  it('ASVS 6.1.1: failures in the staff realm never block the same address signing in as a user', async () => {
    const subject = { email: 'same-person@x.test', ip: '192.0.2.20' };
    const staff = throttle('staff');
    for (let i = 0; i < t.app.config.signInThrottle.pairMaxFailures; i += 1) await staff.recordFailure(subject);
    await expect(staff.assertAllowed(subject)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(throttle('user').assertAllowed(subject)).resolves.toBeUndefined();
  });

  it('a session token of one realm does not resolve in another', async () => {
    const owner = await buildTenant(t);
    const staffSessions = sessions({ name: 'staff', tokenPrefix: 'cfst_' });
    expect(await sessions().resolve(owner.token)).toMatchObject({ kind: 'member', tenantId: owner.tenantId });
    expect(await staffSessions.resolve(owner.token)).toBeUndefined();
    const issued = await staffSessions.issue(owner.userId, owner.tenantId, { ip: '192.0.2.30' });
    expect(issued.token.startsWith('cfst_')).toBe(true);
    expect(await sessions().resolve(issued.token)).toBeUndefined();
  });
});

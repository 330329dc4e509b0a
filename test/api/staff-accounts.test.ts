import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, strongPassword } from '../harness/builders.js';
import { acknowledgeStaffPolicy, addStaff, buildStaff, enrolStaff, signInStaff } from '../harness/staff.js';
import { totpCode } from '../harness/totp.js';

describe.each(DIALECTS)('staff accounts: enrolment, two-step sign-in, sessions (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const staffEvents = async (staffId: string) => {
    await t.app.services.securityEvents.flush();
    return t.app.services.db.selectFrom('security_events').select(['type', 'outcome']).where('actor_type', '=', 'staff').where('actor_id', '=', staffId).orderBy('at').execute();
  };

  it('enrols with the printed token, signs in with two steps and says who is signed in', async () => {
    const staff = await buildStaff(t, { role: 'security-admin' });
    expect(staff.recoveryCodes).toHaveLength(10);
    const me = await t.admin({ method: 'GET', url: '/admin/v1/me', token: staff.token });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toEqual({ staff: { id: staff.id, email: staff.email, role: 'security-admin' }, policy: { version: null, acknowledged: true } });
    expect(staff.token).toMatch(/^cfst_/);
    expect((await staffEvents(staff.id)).map((e) => `${e.type}:${e.outcome}`)).toEqual(['staff.enrolled:success', 'staff.signin.password:success', 'staff.signin.mfa:success']);
  });

  it('ASVS 6.4.1: the enrolment token is single use and expires after 24 hours', async () => {
    const added = await addStaff(t);
    await enrolStaff(t, added.enrolmentToken);
    const again = await t.admin({ method: 'POST', url: '/admin/v1/enrolment', payload: { token: added.enrolmentToken, password: strongPassword() } });
    expect(again.statusCode).toBe(401);
    expect(again.json().error.details.reason).toBe('invalid_token');

    const late = await addStaff(t);
    t.clock.advance(24 * 3600 + 1);
    const expired = await t.admin({ method: 'POST', url: '/admin/v1/enrolment', payload: { token: late.enrolmentToken, password: strongPassword() } });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.details.reason).toBe('invalid_token');
  });

  it('ASVS 6.2.1: enrolment applies the customers’ password policy, and needs a right first code before the account can sign in', async () => {
    const added = await addStaff(t);
    const weak = await t.admin({ method: 'POST', url: '/admin/v1/enrolment', payload: { token: added.enrolmentToken, password: 'short' } });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.details).toMatchObject({ field: 'password', reason: 'too_short' });

    const password = strongPassword();
    const start = await t.admin({ method: 'POST', url: '/admin/v1/enrolment', payload: { token: added.enrolmentToken, password } });
    expect(start.statusCode, start.body).toBe(200);
    expect(start.json().otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    const wrong = await t.admin({ method: 'POST', url: '/admin/v1/enrolment/confirm', payload: { token: added.enrolmentToken, code: '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.details.reason).toBe('wrong_code');
    // Not enrolled yet: the password alone gets nobody in.
    const early = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: added.email, password } });
    expect(early.statusCode).toBe(401);
    const confirm = await t.admin({ method: 'POST', url: '/admin/v1/enrolment/confirm', payload: { token: added.enrolmentToken, code: await totpCode(t, start.json().secret) } });
    expect(confirm.statusCode, confirm.body).toBe(200);
  });

  it('ASVS 6.3.3: sign-in is always two steps; a wrong password, an unknown address and a replayed code are refused alike', async () => {
    const staff = await buildStaff(t);
    const wrongPassword = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: staff.email, password: 'not-the-password-at-all' } });
    const unknown = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: 'nobody@ops.example', password: 'not-the-password-at-all' } });
    expect([wrongPassword.statusCode, unknown.statusCode]).toEqual([401, 401]);
    expect(wrongPassword.json().error.message).toBe(unknown.json().error.message);

    t.clock.advance(30);
    const first = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: staff.email, password: staff.password } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ mfaRequired: true, methods: ['totp', 'recoveryCode'] });
    expect(first.json()).not.toHaveProperty('token');
    const code = await totpCode(t, staff.totpSecret);
    const ok = await t.admin({ method: 'POST', url: '/admin/v1/sessions/mfa', payload: { challenge: first.json().challenge, code } });
    expect(ok.statusCode, ok.body).toBe(201);
    const second = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: staff.email, password: staff.password } });
    const replay = await t.admin({ method: 'POST', url: '/admin/v1/sessions/mfa', payload: { challenge: second.json().challenge, code } });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.details.reason).toBe('code_already_used');
  });

  it('a recovery code stands in for the app once', async () => {
    const staff = await buildStaff(t);
    const useCode = async () => {
      const first = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: staff.email, password: staff.password } });
      return t.admin({ method: 'POST', url: '/admin/v1/sessions/mfa', payload: { challenge: first.json().challenge, recoveryCode: staff.recoveryCodes[0] } });
    };
    expect((await useCode()).statusCode).toBe(201);
    expect((await useCode()).statusCode).toBe(401);
  });

  it('ASVS 7.3.1, 7.3.2: a staff session ends after 15 minutes idle, at 12 hours however busy, and at sign-out', async () => {
    const staff = await buildStaff(t);
    const me = (token: string) => t.admin({ method: 'GET', url: '/admin/v1/me', token });
    t.clock.advance(14 * 60);
    expect((await me(staff.token)).statusCode).toBe(200);
    t.clock.advance(16 * 60);
    expect((await me(staff.token)).statusCode).toBe(401);

    const busy = await signInStaff(t, staff);
    for (let elapsed = 0; elapsed < 12 * 3600 - 600; elapsed += 600) {
      t.clock.advance(600);
      expect((await me(busy)).statusCode).toBe(200);
    }
    t.clock.advance(600);
    expect((await me(busy)).statusCode).toBe(401);

    const leaving = await signInStaff(t, staff);
    expect((await t.admin({ method: 'DELETE', url: '/admin/v1/sessions/current', token: leaving })).statusCode).toBe(204);
    expect((await me(leaving)).statusCode).toBe(401);
  });

  it('ASVS 8.4.1: the realms are apart: staff tokens mean nothing on the public listener, customer tokens and API keys nothing on the admin listener', async () => {
    const staff = await buildStaff(t);
    const owner = await buildTenant(t);
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'ci', scope: 'read' } });
    expect(key.statusCode, key.body).toBe(201);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: staff.token })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: staff.token })).statusCode).toBe(401);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token: owner.token })).statusCode).toBe(401);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/me', token: key.json().key })).statusCode).toBe(401);
    // A customer's password does not open the admin listener either, even for the same address.
    const sameAddress = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: owner.email, password: owner.password } });
    expect(sameAddress.statusCode).toBe(401);
  });

  it('ASVS 6.3.1: staff sign-in failures are throttled in their own realm: they never slow the customer with the same address', async () => {
    const owner = await buildTenant(t);
    const added = await addStaff(t, 'support', owner.email);
    await enrolStaff(t, added.enrolmentToken);
    const limit = t.app.config.signInThrottle.pairMaxFailures;
    for (let i = 0; i < limit; i++) {
      const failed = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: owner.email, password: `wrong-${i}-password` } });
      expect(failed.statusCode).toBe(401);
    }
    const blocked = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: owner.email, password: 'still-not-right' } });
    expect(errorCode(blocked)).toBe('RATE_LIMITED');
    const customer = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password } });
    expect(customer.statusCode, customer.body).toBe(201);
  });
});

describe.each(DIALECTS)('the internal staff policy (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const publish = (token: string, title = 'Staff data handling') =>
    t.admin({ method: 'POST', url: '/admin/v1/staff-policy', token, payload: { title, body: 'Access customer data only under a grant, for the stated reason, and no longer than needed.' } });

  it('only a security-admin publishes; then everyone, the publisher too, can only read and acknowledge it until they do', async () => {
    const admin = await buildStaff(t, { role: 'security-admin' });
    const support = await buildStaff(t, { role: 'support' });
    expect(errorCode(await publish(support.token))).toBe('FORBIDDEN');
    expect((await t.admin({ method: 'GET', url: '/admin/v1/staff-policy', token: support.token })).statusCode).toBe(404);

    const published = await publish(admin.token);
    expect(published.statusCode, published.body).toBe(201);
    const version = published.json().version as number;

    for (const token of [admin.token, support.token]) {
      const me = await t.admin({ method: 'GET', url: '/admin/v1/me', token });
      expect(me.json().policy).toEqual({ version, acknowledged: false });
      // Everything else is closed: here publishing again, and the staff routes of access requests.
      expect(errorCode(await publish(token, 'again'))).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');
      expect(errorCode(await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token }))).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');
      const policy = await t.admin({ method: 'GET', url: '/admin/v1/staff-policy', token });
      expect(policy.statusCode).toBe(200);
      expect(policy.json()).toMatchObject({ version, title: 'Staff data handling' });
    }

    expect((await t.admin({ method: 'POST', url: `/admin/v1/staff-policy/${version + 1}/acknowledge`, token: support.token })).statusCode).toBe(409);
    await acknowledgeStaffPolicy(t, support.token);
    const me = await t.admin({ method: 'GET', url: '/admin/v1/me', token: support.token });
    expect(me.json().policy).toEqual({ version, acknowledged: true });
    expect((await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token: support.token })).statusCode).toBe(200);
    // The admin who has not acknowledged is still held.
    expect(errorCode(await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token: admin.token }))).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');

    const kept = await t.app.services.db.selectFrom('staff_policy_acknowledgements').selectAll().where('staff_id', '=', support.id).execute();
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ version });
    expect(Number.isNaN(Date.parse(kept[0]!.acknowledged_at))).toBe(false);
  });

  it('publishing a new version locks everyone again until they acknowledge it; the old acknowledgement is kept', async () => {
    const admin = await buildStaff(t, { role: 'security-admin' });
    const support = await buildStaff(t);
    const next = await publish(admin.token, 'Version two');
    expect(next.statusCode, next.body).toBe(201);
    expect(errorCode(await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token: support.token }))).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');
    const old = next.json().version - 1;
    expect((await t.admin({ method: 'POST', url: `/admin/v1/staff-policy/${old}/acknowledge`, token: support.token })).statusCode).toBe(409);
    await acknowledgeStaffPolicy(t, support.token);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token: support.token })).statusCode).toBe(200);
    const rows = await t.app.services.db.selectFrom('staff_policy_acknowledgements').select('version').where('staff_id', '=', support.id).orderBy('version').execute();
    expect(rows.map((row) => Number(row.version))).toEqual([old, old + 1]);

    await t.app.services.securityEvents.flush();
    const events = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_id']).where('type', 'in', ['staff.policy.published', 'staff.policy.acknowledged']).execute();
    expect(events).toContainEqual({ type: 'staff.policy.published', actor_id: admin.id });
    expect(events).toContainEqual({ type: 'staff.policy.acknowledged', actor_id: support.id });
  });
});

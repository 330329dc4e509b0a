import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, signIn, strongPassword } from '../harness/builders.js';

describe.each(DIALECTS)('identity on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_SESSION_IDLE_SECONDS: '600', CONFIDE_SESSION_ABSOLUTE_SECONDS: '3600' } });
  });
  afterAll(() => t.close());

  const countUsers = async () => Number((await t.app.services.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('signs up an organisation and its owner, who can then sign in and see themselves', async () => {
    const password = strongPassword();
    const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'Acme Health', email: 'Alice@Example.test', password } });
    expect(signup.statusCode).toBe(201);
    const { tenant, user } = signup.json();
    expect(tenant.name).toBe('Acme Health');
    expect(user.email).toBe('alice@example.test');
    expect(user.emailVerified).toBe(false);
    expect(tenant.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/); // UUIDv7
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);

    const session = await signIn(t, 'alice@example.test', password);
    expect(session.token).toMatch(/^cfs_[A-Za-z0-9_-]{43}$/); // 256 bits
    expect(session.tenantId).toBe(tenant.id);
    const me = await t.request({ method: 'GET', url: '/v1/me', token: session.token });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ user: { id: user.id, email: 'alice@example.test', emailVerified: false }, tenant: { id: tenant.id, name: 'Acme Health' }, role: 'owner', mfa: { totp: false, webauthn: 0, recoveryCodes: 0 } });
  });

  it('refuses a second account with the same e-mail address, in any letter case', async () => {
    const owner = await buildTenant(t);
    const before = await countUsers();
    const again = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'Other', email: owner.email.toUpperCase(), password: strongPassword() } });
    expect(again.statusCode).toBe(409);
    expect(errorCode(again)).toBe('CONFLICT');
    expect(await countUsers()).toBe(before);
  });

  const badSignups: Array<[string, unknown, string, string]> = [
    ['a too-short password', { organization: 'Org', email: 'a@x.test', password: 'short-pw1' }, 'VALIDATION_FAILED', 'password'],
    ['a common password', { organization: 'Org', email: 'b@x.test', password: 'password1234' }, 'VALIDATION_FAILED', 'password'],
    ['a password holding the e-mail name', { organization: 'Org', email: 'margaret@x.test', password: 'margaret-is-my-name-99' }, 'VALIDATION_FAILED', 'password'],
    ['a password holding the organisation', { organization: 'Globex', email: 'c@x.test', password: 'i-work-at-globex-2026' }, 'VALIDATION_FAILED', 'password'],
    ['an invalid e-mail', { organization: 'Org', email: 'not-an-email', password: strongPassword() }, 'VALIDATION_FAILED', 'email'],
    ['an unknown field', { organization: 'Org', email: 'd@x.test', password: strongPassword(), role: 'admin' }, 'VALIDATION_FAILED', 'role'],
    ['a wrong type', { organization: 'Org', email: 'e@x.test', password: 123456789012345 }, 'VALIDATION_FAILED', 'password'],
    ['a missing field', { email: 'f@x.test', password: strongPassword() }, 'VALIDATION_FAILED', 'organization'],
    ['a blank organisation', { organization: '   ', email: 'g@x.test', password: strongPassword() }, 'VALIDATION_FAILED', 'organization'],
    ['an array body', [1, 2], 'VALIDATION_FAILED', ''],
  ];
  it.each(badSignups)('refuses sign-up with %s and creates nothing', async (_name, payload, code, field) => {
    const before = await countUsers();
    const response = await t.request({ method: 'POST', url: '/v1/signup', payload: payload as object });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe(code);
    if (field) expect(response.json().error.details.field).toBe(field);
    expect(await countUsers()).toBe(before);
  });

  it('accepts a 64-character passphrase with any characters, and no composition rules', async () => {
    const password = `${'ünïcødé 🔑 '.repeat(6)}tail`.slice(0, 64);
    const owner = await buildTenant(t, { password });
    expect((await signIn(t, owner.email, password)).token).toBeTruthy();
  });

  it('answers malformed JSON with BAD_REQUEST', async () => {
    const response = await t.request({ method: 'POST', url: '/v1/signup', headers: { 'content-type': 'application/json' }, payload: '{"organization":' });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
  });

  it('answers a wrong password and an unknown account alike', async () => {
    const owner = await buildTenant(t);
    const wrong = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: 'not-the-password-1' } });
    const unknown = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: 'nobody@x.test', password: 'not-the-password-1' } });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json().error.message).toBe(unknown.json().error.message);
  });

  it('refuses a tenantId the user does not belong to, as a wrong password', async () => {
    const owner = await buildTenant(t);
    const other = await buildTenant(t);
    const response = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password, tenantId: other.tenantId } });
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('ends a session at sign-out: the token stops working at once', async () => {
    const owner = await buildTenant(t);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(200);
    expect((await t.request({ method: 'DELETE', url: '/v1/sessions/current', token: owner.token })).statusCode).toBe(204);
    const after = await t.request({ method: 'GET', url: '/v1/me', token: owner.token });
    expect(after.statusCode).toBe(401);
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
    expect(after.headers['www-authenticate']).toBe('Bearer');
  });

  it('ends every session of a disabled user at once, and refuses their sign-in', async () => {
    const owner = await buildTenant(t);
    const other = await signIn(t, owner.email, owner.password);
    await t.app.services.db.updateTable('users').set({ disabled_at: new Date().toISOString() }).where('id', '=', owner.userId).execute();
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: other.token })).statusCode).toBe(401);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password } })).statusCode).toBe(401);
  });

  it('issues a new token at every sign-in', async () => {
    const owner = await buildTenant(t);
    const again = await signIn(t, owner.email, owner.password);
    expect(again.token).not.toBe(owner.token);
  });

  it('expires an idle session, and a session at its absolute lifetime even when active', async () => {
    const idle = await buildTenant(t);
    t.clock.advance(601);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: idle.token })).statusCode).toBe(401);

    const active = await buildTenant(t);
    for (let elapsed = 0; elapsed < 3600; elapsed += 500) {
      expect((await t.request({ method: 'GET', url: '/v1/me', token: active.token })).statusCode).toBe(200);
      t.clock.advance(500);
    }
    expect((await t.request({ method: 'GET', url: '/v1/me', token: active.token })).statusCode).toBe(401);
  });

  it.each([
    ['no header', undefined],
    ['an unknown token', 'Bearer cfs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a malformed header', 'Token abc'],
    ['an empty bearer', 'Bearer '],
  ])('answers UNAUTHENTICATED for %s', async (_name, authorization) => {
    const response = await t.request({ method: 'GET', url: '/v1/me', headers: authorization ? { authorization } : {} });
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('stores passwords only as argon2id hashes with the OWASP parameters', async () => {
    const owner = await buildTenant(t);
    const rows = await t.app.services.db.selectFrom('users').select('password_hash').execute();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(row.password_hash).not.toContain(owner.password);
    }
  });

  it('stores session tokens only as hashes', async () => {
    const owner = await buildTenant(t);
    const rows = await t.app.services.db.selectFrom('sessions').select('token_hash').execute();
    expect(rows.some((row) => row.token_hash === owner.token)).toBe(false);
    expect(rows.every((row) => /^[0-9a-f]{64}$/.test(row.token_hash))).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, signIn, strongPassword, type TestTenant } from '../harness/builders.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { totpCode } from '../harness/totp.js';

describe.each(DIALECTS)('members, invitations and tenant settings on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
  });
  afterAll(() => t.close());

  let counter = 0;
  const freshEmail = () => `invitee-${Date.now()}-${counter++}@example.test`;

  /** Invites `email` and returns the token from the e-mail that was actually delivered. */
  async function invite(inviter: TestTenant, email: string, role: 'owner' | 'admin' | 'member' = 'member'): Promise<string> {
    const response = await t.request({ method: 'POST', url: '/v1/invitations', token: inviter.token, payload: { email, role } });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.body).not.toContain('cfi_');
    const message = (await t.mailTo(email)).pop();
    expect(message).toBeDefined();
    const token = /#token=(cfi_[A-Za-z0-9_-]+)/.exec(bodyOf(message!))?.[1];
    expect(token).toBeDefined();
    return token!;
  }

  async function join(inviter: TestTenant, role: 'owner' | 'admin' | 'member' = 'member'): Promise<TestTenant> {
    const email = freshEmail();
    const password = strongPassword();
    const token = await invite(inviter, email, role);
    const accepted = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password } });
    expect(accepted.statusCode, accepted.body).toBe(201);
    return { ...inviter, email, password, userId: accepted.json().userId, token: accepted.json().token };
  }

  it('invites a new person by e-mail; they set a password, join with the role, and the token works once', async () => {
    const owner = await buildTenant(t);
    const email = freshEmail();
    const token = await invite(owner, email, 'admin');
    const password = strongPassword();
    const accepted = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password } });
    expect(accepted.statusCode).toBe(201);
    expect(accepted.json().tenantId).toBe(owner.tenantId);
    const me = await t.request({ method: 'GET', url: '/v1/me', token: accepted.json().token });
    expect(me.json()).toMatchObject({ user: { email }, tenant: { id: owner.tenantId }, role: 'admin' });

    const again = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password } });
    expect(again.statusCode).toBe(401);
    const members = await t.request({ method: 'GET', url: '/v1/members', token: owner.token });
    expect(members.json().items.map((m: { email: string; role: string; mfa: boolean }) => [m.email, m.role, m.mfa])).toEqual([
      [owner.email, 'owner', false],
      [email, 'admin', false],
    ]);
  });

  it('lets an existing user join a second tenant with their password, and pick the tenant at sign-in', async () => {
    const first = await buildTenant(t);
    const second = await buildTenant(t);
    const token = await invite(second, first.email, 'member');
    const wrong = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password: 'not-their-password-1' } });
    expect(wrong.statusCode).toBe(401);
    const joined = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password: first.password } });
    expect(joined.statusCode).toBe(201);
    expect(joined.json()).toMatchObject({ tenantId: second.tenantId, userId: first.userId });

    const intoSecond = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: first.email, password: first.password, tenantId: second.tenantId } });
    expect(intoSecond.json().tenantId).toBe(second.tenantId);
    const byDefault = await signIn(t, first.email, first.password);
    expect(byDefault.tenantId).toBe(first.tenantId);
    // Sessions are bound to one tenant: the second tenant's data is not reachable from the first.
    const record = await buildRecord(t, second, 'private');
    expect((await t.request({ method: 'GET', url: `/v1/collections/private/records/${record.id}`, token: byDefault.token })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/v1/collections/private/records/${record.id}`, token: intoSecond.json().token })).statusCode).toBe(200);
  });

  it('asks an existing user with a second factor for it when they accept', async () => {
    const first = await buildTenant(t);
    const { secret } = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: first.token })).json();
    await t.request({ method: 'POST', url: '/v1/mfa/totp/confirm', token: first.token, payload: { code: await totpCode(t, secret) } });
    t.clock.advance(30);
    const second = await buildTenant(t);
    const token = await invite(second, first.email);
    const accepted = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password: first.password } });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json().mfaRequired).toBe(true);
    const done = await t.request({ method: 'POST', url: '/v1/sessions/mfa', payload: { challenge: accepted.json().challenge, code: await totpCode(t, secret) } });
    expect(done.statusCode).toBe(201);
    expect(done.json().tenantId).toBe(second.tenantId);
  });

  it('expires an invitation after 7 days, and refuses a weak password for a new user', async () => {
    const owner = await buildTenant(t);
    const weak = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token: await invite(owner, freshEmail()), password: 'password1234' } });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.details.reason).toBe('too_common');

    const token = await invite(owner, freshEmail());
    t.clock.advance(7 * 24 * 3600 + 1);
    const late = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password: strongPassword() } });
    expect(late.statusCode).toBe(401);
  });

  it('refuses to invite someone who is already a member, and lets only owners invite owners', async () => {
    const owner = await buildTenant(t);
    const dup = await t.request({ method: 'POST', url: '/v1/invitations', token: owner.token, payload: { email: owner.email, role: 'member' } });
    expect(dup.statusCode).toBe(409);
    const admin = await join(owner, 'admin');
    const asAdmin = await t.request({ method: 'POST', url: '/v1/invitations', token: admin.token, payload: { email: freshEmail(), role: 'owner' } });
    expect(asAdmin.statusCode).toBe(403);
    expect((await t.request({ method: 'POST', url: '/v1/invitations', token: admin.token, payload: { email: freshEmail(), role: 'member' } })).statusCode).toBe(201);
    const member = await join(owner, 'member');
    expect((await t.request({ method: 'POST', url: '/v1/invitations', token: member.token, payload: { email: freshEmail(), role: 'member' } })).statusCode).toBe(403);
    expect((await t.request({ method: 'GET', url: '/v1/members', token: member.token })).statusCode).toBe(403);
  });

  it('changes roles with one rule per action, and always keeps an owner', async () => {
    const owner = await buildTenant(t);
    const admin = await join(owner, 'admin');
    const member = await join(owner, 'member');
    const patch = (token: string, userId: string, role: string) => t.request({ method: 'PATCH', url: `/v1/members/${userId}`, token, payload: { role } });

    expect((await patch(admin.token, member.userId, 'admin')).json()).toMatchObject({ userId: member.userId, role: 'admin' });
    expect((await patch(admin.token, owner.userId, 'member')).statusCode).toBe(403);
    expect((await patch(admin.token, member.userId, 'owner')).statusCode).toBe(403);
    const lastOwner = await patch(owner.token, owner.userId, 'admin');
    expect(lastOwner.statusCode).toBe(409);
    expect(errorCode(lastOwner)).toBe('CONFLICT');
    expect((await patch(owner.token, admin.userId, 'owner')).json().role).toBe('owner');
    expect((await patch(owner.token, owner.userId, 'member')).json().role).toBe('member'); // another owner remains
    const bad = await patch(admin.token, member.userId, 'superuser');
    expect(bad.statusCode).toBe(400);
  });

  it('removes a member: their sessions end at once; the last owner cannot be removed', async () => {
    const owner = await buildTenant(t);
    const member = await join(owner, 'member');
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: member.token })).statusCode).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/members/${member.userId}`, token: owner.token })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: member.token })).statusCode).toBe(401);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: member.email, password: member.password } })).statusCode).toBe(401);

    expect((await t.request({ method: 'DELETE', url: `/v1/members/${owner.userId}`, token: owner.token })).statusCode).toBe(409);
    const other = await buildTenant(t);
    // Another tenant's user answers like a missing one.
    expect((await t.request({ method: 'DELETE', url: `/v1/members/${other.userId}`, token: owner.token })).statusCode).toBe(404);
    expect((await t.request({ method: 'PATCH', url: `/v1/members/${other.userId}`, token: owner.token, payload: { role: 'member' } })).statusCode).toBe(404);
  });

  it('with requireMfa, a member without a second factor can only set one up, then works normally', async () => {
    const owner = await buildTenant(t);
    const member = await join(owner, 'member');
    const withoutOwnFactor = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { requireMfa: true } });
    expect(withoutOwnFactor.statusCode).toBe(409);
    const ownerTotp = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: owner.token })).json();
    await t.request({ method: 'POST', url: '/v1/mfa/totp/confirm', token: owner.token, payload: { code: await totpCode(t, ownerTotp.secret) } });
    const settings = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { requireMfa: true } });
    expect(settings.statusCode).toBe(200);
    expect(settings.json()).toEqual({ requireMfa: true, sessionIdleSeconds: null, sessionAbsoluteSeconds: null, staffAccess: 'approval_required', staffAccessMaxMinutes: 120 });

    const blocked = await t.request({ method: 'GET', url: '/v1/collections/x/records', token: member.token });
    expect(blocked.statusCode).toBe(403);
    expect(errorCode(blocked)).toBe('MFA_REQUIRED');
    expect((await t.request({ method: 'GET', url: '/v1/me', token: member.token })).statusCode).toBe(200);

    const { secret } = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: member.token })).json();
    expect((await t.request({ method: 'POST', url: '/v1/mfa/totp/confirm', token: member.token, payload: { code: await totpCode(t, secret) } })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: member.token })).statusCode).toBe(200);
    // The only factor cannot be removed while the tenant requires one.
    expect((await t.request({ method: 'DELETE', url: '/v1/mfa/totp', token: member.token, payload: { password: member.password } })).statusCode).toBe(409);
    const list = await t.request({ method: 'GET', url: '/v1/members', token: owner.token });
    expect(list.json().items.find((m: { userId: string }) => m.userId === member.userId).mfa).toBe(true);
    await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { requireMfa: false } });
  });

  it('lets a tenant shorten session lifetimes within safe bounds, with effect on live sessions', async () => {
    const owner = await buildTenant(t);
    const tooLong = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { sessionIdleSeconds: 7200 } });
    expect(tooLong.statusCode).toBe(400);
    const tooShort = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { sessionAbsoluteSeconds: 60 } });
    expect(tooShort.statusCode).toBe(400);
    expect((await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: {} })).statusCode).toBe(400);
    const ok = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { sessionIdleSeconds: 600 } });
    expect(ok.json().sessionIdleSeconds).toBe(600);
    t.clock.advance(601);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(401);
  });

  it('lets only owners and admins read or change settings', async () => {
    const owner = await buildTenant(t);
    const member = await join(owner, 'member');
    expect((await t.request({ method: 'GET', url: '/v1/tenant/settings', token: member.token })).statusCode).toBe(403);
    expect((await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: member.token, payload: { requireMfa: true } })).statusCode).toBe(403);
    expect((await t.request({ method: 'GET', url: '/v1/tenant/settings', token: owner.token })).json()).toEqual({ requireMfa: false, sessionIdleSeconds: null, sessionAbsoluteSeconds: null, staffAccess: 'approval_required', staffAccessMaxMinutes: 120 });
  });
});

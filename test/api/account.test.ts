import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, signIn, strongPassword, type TestTenant } from '../harness/builders.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { totpCode } from '../harness/totp.js';

describe.each(DIALECTS)('passwords, sessions and security events on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
  });
  afterAll(() => t.close());

  // The mail each test is about: every owner also got an e-mail-verification message at sign-up.
  const mailsTo = async (email: string) => (await t.mailTo(email)).filter((mail) => !/^Subject: Confide: confirm your e-mail address$/m.test(mail.raw));
  async function resetToken(email: string): Promise<string> {
    const response = await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email } });
    expect(response.statusCode).toBe(202);
    const mail = (await mailsTo(email)).pop();
    const token = /#token=(cfr_[A-Za-z0-9_-]+)/.exec(bodyOf(mail!))?.[1];
    expect(token).toBeDefined();
    return token!;
  }

  it('answers a reset request the same for known and unknown addresses, and mails only the known one', async () => {
    const owner = await buildTenant(t);
    const known = await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: owner.email } });
    const unknown = await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: 'nobody-here@example.test' } });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(known.body).toBe(unknown.body);
    expect(await mailsTo(owner.email)).toHaveLength(1);
    expect(await mailsTo('nobody-here@example.test')).toHaveLength(0);
  });

  it('resets a password with the e-mailed token once: old password and every session stop working', async () => {
    const owner = await buildTenant(t);
    const token = await resetToken(owner.email);
    const password = strongPassword();
    expect((await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token, password } })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(401);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password } })).statusCode).toBe(401);
    expect((await signIn(t, owner.email, password)).token).toBeTruthy();
    expect((await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token, password: strongPassword() } })).statusCode).toBe(401);
    expect((await mailsTo(owner.email)).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1])).toContain('Confide: your password was changed');
  });

  it('never lets a reset bypass the second factor', async () => {
    const owner = await buildTenant(t);
    const { secret } = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: owner.token })).json();
    await t.request({ method: 'POST', url: '/v1/mfa/totp/confirm', token: owner.token, payload: { code: await totpCode(t, secret) } });
    const password = strongPassword();
    const reset = await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token: await resetToken(owner.email), password } });
    expect(reset.statusCode).toBe(204);
    expect(reset.body).toBe(''); // no session handed out
    const next = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password } });
    expect(next.statusCode).toBe(200);
    expect(next.json().mfaRequired).toBe(true);
  });

  it('expires reset links after 30 minutes, refuses weak passwords, and limits reset mails per hour', async () => {
    const owner = await buildTenant(t);
    const weak = await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token: await resetToken(owner.email), password: 'password1234' } });
    expect(weak.statusCode).toBe(400);
    const token = await resetToken(owner.email);
    t.clock.advance(30 * 60 + 1);
    expect((await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token, password: strongPassword() } })).statusCode).toBe(401);

    const other = await buildTenant(t);
    for (let i = 0; i < 5; i += 1) await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: other.email } });
    expect(await mailsTo(other.email)).toHaveLength(3);
  });

  it('changes the password with the current one: other sessions end, this one stays', async () => {
    const owner = await buildTenant(t);
    const other = await signIn(t, owner.email, owner.password);
    const wrong = await t.request({ method: 'POST', url: '/v1/me/password', token: owner.token, payload: { currentPassword: 'wrong-password-xyz', newPassword: strongPassword() } });
    expect(wrong.statusCode).toBe(401);
    const weak = await t.request({ method: 'POST', url: '/v1/me/password', token: owner.token, payload: { currentPassword: owner.password, newPassword: 'password1234' } });
    expect(weak.statusCode).toBe(400);
    const newPassword = strongPassword();
    expect((await t.request({ method: 'POST', url: '/v1/me/password', token: owner.token, payload: { currentPassword: owner.password, newPassword } })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: other.token })).statusCode).toBe(401);
    expect((await signIn(t, owner.email, newPassword)).token).toBeTruthy();
  });

  it('lists the user’s sessions with where they come from, and ends one', async () => {
    const owner = await buildTenant(t);
    const laptop = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password }, headers: { 'user-agent': 'Laptop/1.0' }, remoteAddress: '203.0.113.9' });
    const list = await t.request({ method: 'GET', url: '/v1/sessions', token: owner.token });
    expect(list.statusCode).toBe(200);
    const items = list.json().items as Array<{ id: string; ip: string; userAgent: string; current: boolean }>;
    expect(items).toHaveLength(2);
    expect(items.filter((s) => s.current)).toHaveLength(1);
    const other = items.find((s) => !s.current)!;
    expect(other).toMatchObject({ ip: '203.0.113.9', userAgent: 'Laptop/1.0' });
    expect((await t.request({ method: 'DELETE', url: `/v1/sessions/${other.id}`, token: owner.token })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: laptop.json().token })).statusCode).toBe(401);
    // Another user's session is not yours to end.
    const stranger = await buildTenant(t);
    const theirs = (await t.request({ method: 'GET', url: '/v1/sessions', token: stranger.token })).json().items[0].id;
    expect((await t.request({ method: 'DELETE', url: `/v1/sessions/${theirs}`, token: owner.token })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: stranger.token })).statusCode).toBe(200);
  });

  it('records sign-ins, failures and refusals as security events that owners can read', async () => {
    const owner: TestTenant = await buildTenant(t);
    await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: 'definitely-wrong-1' }, remoteAddress: '198.51.100.23' });
    await t.app.services.db.updateTable('memberships').set({ role: 'member' }).where('user_id', '=', owner.userId).execute();
    const asMember = await signIn(t, owner.email, owner.password);
    expect((await t.request({ method: 'GET', url: '/v1/api-keys', token: asMember.token })).statusCode).toBe(403);
    expect((await t.request({ method: 'GET', url: '/v1/security-events', token: asMember.token })).statusCode).toBe(403);
    await t.app.services.db.updateTable('memberships').set({ role: 'owner' }).where('user_id', '=', owner.userId).execute();
    await t.app.services.securityEvents.flush();

    const events = await t.request({ method: 'GET', url: '/v1/security-events?limit=100', token: owner.token });
    expect(events.statusCode).toBe(200);
    const items = events.json().items as Array<{ type: string; outcome: string; ip: string; details?: Record<string, unknown> }>;
    expect(items.some((e) => e.type === 'signin.password' && e.outcome === 'failure' && e.ip === '198.51.100.23')).toBe(true);
    expect(items.some((e) => e.type === 'signin.password' && e.outcome === 'success')).toBe(true);
    expect(items.some((e) => e.type === 'authorization.denied' && e.details?.code === 'FORBIDDEN')).toBe(true);
    expect(JSON.stringify(items)).not.toContain(owner.password);

    const onlyFailures = await t.request({ method: 'GET', url: '/v1/security-events?type=signin.password', token: owner.token });
    expect(onlyFailures.json().items.every((e: { type: string }) => e.type === 'signin.password')).toBe(true);
    const page = await t.request({ method: 'GET', url: '/v1/security-events?limit=1', token: owner.token });
    const next = await t.request({ method: 'GET', url: `/v1/security-events?limit=1&cursor=${page.json().nextCursor}`, token: owner.token });
    expect(next.json().items[0].id < page.json().items[0].id).toBe(true);
    const bad = await t.request({ method: 'GET', url: '/v1/security-events?cursor=bm9wZQ', token: owner.token });
    expect(errorCode(bad)).toBe('VALIDATION_FAILED');

    // Another tenant sees none of it.
    const other = await buildTenant(t);
    await t.app.services.securityEvents.flush();
    const theirs = (await t.request({ method: 'GET', url: '/v1/security-events?limit=100', token: other.token })).json().items;
    expect(theirs.every((e: { actor: { id: string } | null }) => e.actor?.id === other.userId)).toBe(true);
  });

  it('stores event IPs and details encrypted', async () => {
    await buildTenant(t);
    await t.app.services.securityEvents.flush();
    const rows = await t.app.services.db.selectFrom('security_events').selectAll().where('ip_enc', 'is not', null).execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.ip_enc!.startsWith('c1.A256GCM.'))).toBe(true);
  });
});

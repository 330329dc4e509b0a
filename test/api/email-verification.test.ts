import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildTenant, errorCode, signIn, strongPassword, verificationToken } from '../harness/builders.js';
import { bodyOf } from '../harness/smtp-sink.js';

/**
 * E-mail verification against account pre-hijacking (issue 6, item 2): an address is proven by
 * a single-use link before the account can do anything but sign in, see itself and sign out.
 */
describe.each(DIALECTS)('e-mail verification on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
  });
  afterAll(() => t.close());

  let counter = 0;
  const freshEmail = () => `verify-${Date.now()}-${counter++}@example.test`;

  /** Signs up without verifying, and signs in. */
  async function signUpUnverified(email = freshEmail(), password = strongPassword()) {
    const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: `Org ${counter}`, email, password } });
    expect(signup.statusCode, signup.body).toBe(201);
    const session = await signIn(t, email, password);
    return { email, password, token: session.token, userId: signup.json().user.id as string, tenantId: signup.json().tenant.id as string };
  }

  const confirm = (token: string) => t.request({ method: 'POST', url: '/v1/email-verifications/confirm', payload: { token } });

  it('mails a single-use link with the token in the fragment, and answers sign-up with emailVerified false', async () => {
    const email = freshEmail();
    const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'Verify Co', email, password: strongPassword() } });
    expect(signup.json().user.emailVerified).toBe(false);
    const [mail] = await t.mailTo(email);
    expect(mail).toBeDefined();
    expect(mail!.raw).toMatch(/^Subject: Confide: confirm your e-mail address$/m);
    const body = bodyOf(mail!);
    expect(body).toMatch(/\/verify-email#token=cfv_[A-Za-z0-9_-]{43}/);
    expect(body).not.toMatch(/\?token=/); // never in a query string, which servers and proxies log
    // Says when and from where it was asked for, and what to do if that was not the reader.
    expect(body).toMatch(/It was asked for at \d{4}-\d\d-\d\dT[\d:.]+Z \(UTC\) from 127\.0\.0\.1\./);
    expect(body).toMatch(/If you did not create this account, do not confirm/);
    expect(signup.body).not.toContain('cfv_');
  });

  it('lets an unverified user only sign in, read /v1/me, ask for a new link and sign out', async () => {
    const user = await signUpUnverified();
    const me = await t.request({ method: 'GET', url: '/v1/me', token: user.token });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.emailVerified).toBe(false);

    const refused: Array<['GET' | 'POST' | 'PATCH', string, unknown?]> = [
      ['POST', '/v1/collections/notes/records', { a: 1 }],
      ['GET', '/v1/collections/notes/records'],
      ['GET', '/v1/access-log'],
      ['POST', '/v1/invitations', { email: 'accomplice@example.test', role: 'owner' }],
      ['GET', '/v1/members'],
      ['POST', '/v1/api-keys', { name: 'k', scope: 'read' }],
      ['PATCH', '/v1/tenant/settings', { requireMfa: false }],
      ['POST', '/v1/mfa/totp'],
      ['GET', '/v1/sessions'],
      ['GET', '/v1/security-events'],
    ];
    for (const [method, url, payload] of refused) {
      const response = await t.request({ method, url, token: user.token, ...(payload ? { payload } : {}) });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(errorCode(response)).toBe('EMAIL_NOT_VERIFIED');
    }
    // Nothing was created by the refused calls.
    const rows = await t.app.services.db.selectFrom('invitations').select('id').where('tenant_id', '=', user.tenantId).execute();
    expect(rows).toHaveLength(0);

    const signOut = await t.request({ method: 'DELETE', url: '/v1/sessions/current', token: user.token });
    expect(signOut.statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: user.token })).statusCode).toBe(401);
  });

  it('verifies with the e-mailed token (no sign-in needed); the token works once; then everything opens', async () => {
    const user = await signUpUnverified();
    const token = await verificationToken(t, user.email);
    expect((await confirm(token)).statusCode).toBe(204);
    const again = await confirm(token);
    expect(again.statusCode).toBe(401);
    expect(errorCode(again)).toBe('UNAUTHENTICATED');

    const me = await t.request({ method: 'GET', url: '/v1/me', token: user.token });
    expect(me.json().user.emailVerified).toBe(true);
    const created = await t.request({ method: 'POST', url: '/v1/collections/notes/records', token: user.token, payload: { a: 1 } });
    expect(created.statusCode).toBe(201);
  });

  it('refuses an unknown or expired token (24 h), and a malformed body, without verifying anything', async () => {
    const user = await signUpUnverified();
    const token = await verificationToken(t, user.email);
    expect((await confirm(`cfv_${'A'.repeat(43)}`)).statusCode).toBe(401);
    expect((await t.request({ method: 'POST', url: '/v1/email-verifications/confirm', payload: { token, extra: 1 } })).statusCode).toBe(400);
    t.clock.advance(24 * 3600 + 1);
    expect((await confirm(token)).statusCode).toBe(401);
    const fresh = await signIn(t, user.email, user.password);
    const me = await t.request({ method: 'GET', url: '/v1/me', token: fresh.token });
    expect(me.json().user.emailVerified).toBe(false);
  });

  it('sends a new link on request, at most 3 an hour (429 with Retry-After), and 409 once verified', async () => {
    const user = await signUpUnverified();
    const resend = () => t.request({ method: 'POST', url: '/v1/email-verifications', token: user.token });
    // Sign-up sent the first link; two more fit in the hour.
    expect((await resend()).statusCode).toBe(202);
    expect((await resend()).statusCode).toBe(202);
    const limited = await resend();
    expect(limited.statusCode).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(await t.mailTo(user.email)).toHaveLength(3);

    // Any of the links works (the newest here), and the older ones are then of no further use.
    const tokens = (await t.mailTo(user.email)).map((mail) => /cfv_[A-Za-z0-9_-]{43}/.exec(bodyOf(mail))![0]);
    expect(new Set(tokens).size).toBe(3);
    expect((await confirm(tokens[2]!)).statusCode).toBe(204);
    const already = await resend();
    expect(already.statusCode).toBe(409);
    expect(already.json().error.details.reason).toBe('already_verified');
  });

  it('counts parallel requests for a new link one at a time: no more than 3 mails an hour', async () => {
    const user = await signUpUnverified();
    const answers = await Promise.all(Array.from({ length: 8 }, () => t.request({ method: 'POST', url: '/v1/email-verifications', token: user.token })));
    expect(answers.filter((response) => response.statusCode === 202)).toHaveLength(2);
    expect(answers.filter((response) => response.statusCode === 429)).toHaveLength(6);
    expect(await t.mailTo(user.email)).toHaveLength(3);
  });

  it('stops account pre-hijacking: a squatter cannot invite anyone, and the owner takes the address back by reset', async () => {
    const victimEmail = freshEmail();
    const squatter = await signUpUnverified(victimEmail);
    // The squatter's plan: invite a second owner they control, to keep access later.
    const invite = await t.request({ method: 'POST', url: '/v1/invitations', token: squatter.token, payload: { email: 'accomplice@example.test', role: 'owner' } });
    expect(invite.statusCode).toBe(403);
    expect(errorCode(invite)).toBe('EMAIL_NOT_VERIFIED');

    // The real owner resets the password through their mailbox: that proves the address and signs the squatter out.
    expect((await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: victimEmail } })).statusCode).toBe(202);
    const resetMail = (await t.mailTo(victimEmail)).find((mail) => /reset your password/.test(mail.raw));
    const resetToken = /#token=(cfr_[A-Za-z0-9_-]+)/.exec(bodyOf(resetMail!))![1]!;
    const newPassword = strongPassword();
    expect((await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token: resetToken, password: newPassword } })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: squatter.token })).statusCode).toBe(401);

    const owner = await signIn(t, victimEmail, newPassword);
    const me = await t.request({ method: 'GET', url: '/v1/me', token: owner.token });
    expect(me.json().user.emailVerified).toBe(true);
    const members = await t.request({ method: 'GET', url: '/v1/members', token: owner.token });
    expect(members.json().items).toHaveLength(1);
  });

  it('counts accepting an invitation as verifying the address', async () => {
    const owner = await buildTenant(t);
    const member = await buildMember(t, owner, 'member');
    const me = await t.request({ method: 'GET', url: '/v1/me', token: member.token });
    expect(me.json().user.emailVerified).toBe(true);
    expect((await t.request({ method: 'GET', url: '/v1/collections/notes/records', token: member.token })).statusCode).toBe(200);
  });

  it('records the verification as a security event of the user', async () => {
    const owner = await buildTenant(t);
    await t.app.services.securityEvents.flush();
    const events = await t.request({ method: 'GET', url: '/v1/security-events?type=email.verified', token: owner.token });
    expect(events.json().items).toHaveLength(1);
    expect(events.json().items[0].actor).toEqual({ type: 'member', id: owner.userId });
  });
});

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, signIn, strongPassword } from '../harness/builders.js';
import { readMail } from '../../src/mail/read-mail.js';

const PAGES = ['/verify-email', '/accept-invitation', '/reset-password'];

/** The CSP of an answer as a map of directive → sources. */
function cspOf(header: unknown): Map<string, string[]> {
  return new Map(
    String(header)
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

/**
 * Issue 7, item 2: every link Confide mails leads to a page (not a 404) that says what the token
 * is for, and every such mail spells out the API call that uses the token, which then works.
 */
describe.each(DIALECTS)('links in mail on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  /** The newest mail to `email`, decoded; its link's path and token; the API call it spells out. */
  async function newestMail(email: string, linkPath: string, prefix: string) {
    const mails = await t.mailTo(email);
    expect(mails.length, `no mail to ${email}`).toBeGreaterThan(0);
    const mail = await readMail(mails[mails.length - 1]!.raw);
    const link = mail.links.find((url) => new URL(url).pathname === linkPath);
    expect(link, mail.text).toBeDefined();
    const token = new URLSearchParams(new URL(link!).hash.slice(1)).get('token')!;
    expect(token.startsWith(prefix)).toBe(true);
    return { mail, link: link!, token };
  }

  /** The `POST <url>` line and the JSON body line under it, as a reader would copy them. */
  function apiCallIn(text: string): { path: string; body: Record<string, unknown> } {
    const match = /^ {2}POST (\S+)\n {2}Content-Type: application\/json\n {2}(\{.*\})$/m.exec(text);
    expect(match, text).not.toBeNull();
    return { path: new URL(match![1]!).pathname, body: JSON.parse(match![2]!) as Record<string, unknown> };
  }

  it.each(PAGES)('GET %s answers 200 HTML with the security headers and a CSP that allows exactly its one inline script (ASVS 3.4.3)', async (path) => {
    const response = await t.request({ method: 'GET', url: path });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['cache-control']).toBe('no-store');

    const scripts = [...response.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const hash = `'sha256-${createHash('sha256').update(scripts[0]!, 'utf8').digest('base64')}'`;
    const csp = cspOf(response.headers['content-security-policy']);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual([hash]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(String(response.headers['content-security-policy'])).not.toMatch(/unsafe|\*/);
    expect(response.body).not.toMatch(/<[a-z]+[^>]*\son[a-z]+=/i); // no inline handlers, which the hash would not allow
  });

  it('keeps the strict CSP on the API routes', async () => {
    const csp = cspOf((await t.request({ method: 'GET', url: '/healthz' })).headers['content-security-policy']);
    expect([...csp.keys()].sort()).toEqual(['default-src', 'frame-ancestors']);
    expect(csp.get('default-src')).toEqual(["'none'"]);
  });

  it('mails a sign-up link that leads to a page, and the API call to confirm, which works', async () => {
    const email = `links-verify-${Date.now()}@example.test`;
    const password = strongPassword();
    expect((await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'Links Co', email, password } })).statusCode).toBe(201);
    const { mail, link, token } = await newestMail(email, '/verify-email', 'cfv_');
    expect(mail.subject).toBe('Confide: confirm your e-mail address');

    const page = await t.request({ method: 'GET', url: new URL(link).pathname });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('/v1/email-verifications/confirm');

    const call = apiCallIn(mail.text);
    expect(call).toEqual({ path: '/v1/email-verifications/confirm', body: { token } });
    expect((await t.request({ method: 'POST', url: call.path, payload: call.body })).statusCode).toBe(204);
    const session = await signIn(t, email, password);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: session.token })).json().user.emailVerified).toBe(true);
  });

  it('mails an invitation link that leads to a page, and the API call to accept, which works', async () => {
    const owner = await buildTenant(t);
    const email = `links-invite-${Date.now()}@example.test`;
    expect((await t.request({ method: 'POST', url: '/v1/invitations', token: owner.token, payload: { email, role: 'member' } })).statusCode).toBe(201);
    const { mail, link, token } = await newestMail(email, '/accept-invitation', 'cfi_');
    expect(mail.subject).toBe(`Confide: you are invited to join ${owner.organization}`);
    expect((await t.request({ method: 'GET', url: new URL(link).pathname })).statusCode).toBe(200);

    const call = apiCallIn(mail.text);
    expect(call.path).toBe('/v1/invitations/accept');
    expect(call.body.token).toBe(token);
    expect(Object.keys(call.body).sort()).toEqual(['password', 'token']);
    const accepted = await t.request({ method: 'POST', url: call.path, payload: { ...call.body, password: strongPassword() } });
    expect(accepted.statusCode, accepted.body).toBe(201);
  });

  it('mails a password-reset link that leads to a page, and the API call to reset, which works', async () => {
    const owner = await buildTenant(t);
    expect((await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: owner.email } })).statusCode).toBe(202);
    const { mail, link, token } = await newestMail(owner.email, '/reset-password', 'cfr_');
    expect(mail.subject).toBe('Confide: reset your password');
    expect((await t.request({ method: 'GET', url: new URL(link).pathname })).statusCode).toBe(200);

    const call = apiCallIn(mail.text);
    expect(call.path).toBe('/v1/password-resets/confirm');
    expect(call.body.token).toBe(token);
    const newPassword = strongPassword();
    expect((await t.request({ method: 'POST', url: call.path, payload: { ...call.body, password: newPassword } })).statusCode).toBe(204);
    await signIn(t, owner.email, newPassword);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { SoftAuthenticator } from '../harness/soft-authenticator.js';

const ORIGIN = 'https://localhost:8443';

describe.each(DIALECTS)('passkeys (WebAuthn) on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true, env: { CONFIDE_PUBLIC_URL: ORIGIN } });
  });
  afterAll(() => t.close());

  const post = (url: string, token: string | undefined, payload?: object) => t.request({ method: 'POST', url, token, ...(payload ? { payload } : {}) });

  async function withPasskey(): Promise<TestTenant & { authenticator: SoftAuthenticator; recoveryCodes: string[] }> {
    const owner = await buildTenant(t);
    const authenticator = new SoftAuthenticator('localhost', ORIGIN);
    const options = await post('/v1/mfa/webauthn/registration-options', owner.token);
    expect(options.statusCode, options.body).toBe(200);
    expect(options.json()).toMatchObject({ rp: { id: 'localhost', name: 'Confide' }, user: { name: owner.email }, attestation: 'none' });
    const registered = await post('/v1/mfa/webauthn/registrations', owner.token, authenticator.register(options.json()));
    expect(registered.statusCode, registered.body).toBe(201);
    return { ...owner, authenticator, recoveryCodes: registered.json().recoveryCodes };
  }

  async function challengeFor(owner: TestTenant): Promise<string> {
    const response = await post('/v1/sessions', undefined, { email: owner.email, password: owner.password });
    expect(response.json().mfaRequired).toBe(true);
    return response.json().challenge;
  }

  it('registers a passkey; as the first factor it comes with recovery codes and an e-mail', async () => {
    const owner = await withPasskey();
    expect(owner.recoveryCodes).toHaveLength(10);
    const list = await t.request({ method: 'GET', url: '/v1/mfa/webauthn/credentials', token: owner.token });
    expect(list.json().items).toHaveLength(1);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).json().mfa).toEqual({ totp: false, webauthn: 1, recoveryCodes: 10 });
    expect((await t.mailTo(owner.email)).some((m) => m.raw.includes('Subject: Confide: A passkey was added'))).toBe(true);
  });

  it('signs in with the passkey as the second step', async () => {
    const owner = await withPasskey();
    const challenge = await challengeFor(owner);
    const sessionsBefore = await post('/v1/sessions', undefined, { email: owner.email, password: owner.password });
    expect(sessionsBefore.json().methods).toEqual(['webauthn', 'recoveryCode']);
    const options = await post('/v1/sessions/mfa/webauthn-options', undefined, { challenge });
    expect(options.statusCode).toBe(200);
    expect(options.json().allowCredentials).toEqual([expect.objectContaining({ id: owner.authenticator.id })]);
    const done = await post('/v1/sessions/mfa', undefined, { challenge, webauthn: owner.authenticator.authenticate(options.json()) });
    expect(done.statusCode, done.body).toBe(201);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: done.json().token })).statusCode).toBe(200);
  });

  it('refuses a replayed assertion, another authenticator, and a response for another origin', async () => {
    const owner = await withPasskey();
    const challenge = await challengeFor(owner);
    const options = (await post('/v1/sessions/mfa/webauthn-options', undefined, { challenge })).json();
    const assertion = owner.authenticator.authenticate(options);
    expect((await post('/v1/sessions/mfa', undefined, { challenge, webauthn: assertion })).statusCode).toBe(201);
    const second = await challengeFor(owner);
    expect((await post('/v1/sessions/mfa', undefined, { challenge: second, webauthn: assertion })).statusCode).toBe(401);

    const stranger = new SoftAuthenticator('localhost', ORIGIN);
    const third = await challengeFor(owner);
    const strangerOptions = (await post('/v1/sessions/mfa/webauthn-options', undefined, { challenge: third })).json();
    expect((await post('/v1/sessions/mfa', undefined, { challenge: third, webauthn: { ...stranger.authenticate(strangerOptions), id: stranger.id } })).statusCode).toBe(401);

    const phishing = new SoftAuthenticator('localhost', 'https://evil.example');
    const reg = (await post('/v1/mfa/webauthn/registration-options', owner.token)).json();
    const bad = await post('/v1/mfa/webauthn/registrations', owner.token, phishing.register(reg));
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('VALIDATION_FAILED');
  });

  it('removes a passkey after a fresh check; the last one takes the recovery codes with it', async () => {
    const owner = await withPasskey();
    t.clock.advance(301);
    const [credential] = (await t.request({ method: 'GET', url: '/v1/mfa/webauthn/credentials', token: owner.token })).json().items;
    const stale = await t.request({ method: 'DELETE', url: `/v1/mfa/webauthn/credentials/${credential.id}`, token: owner.token });
    expect(errorCode(stale)).toBe('REAUTHENTICATION_REQUIRED');
    const removed = await t.request({ method: 'DELETE', url: `/v1/mfa/webauthn/credentials/${credential.id}`, token: owner.token, payload: { password: owner.password } });
    expect(removed.statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).json().mfa).toEqual({ totp: false, webauthn: 0, recoveryCodes: 0 });
    expect((await post('/v1/sessions', undefined, { email: owner.email, password: owner.password })).statusCode).toBe(201);
  });

  it('keeps each user’s passkeys to themselves', async () => {
    const owner = await withPasskey();
    const other = await buildTenant(t);
    const [credential] = (await t.request({ method: 'GET', url: '/v1/mfa/webauthn/credentials', token: owner.token })).json().items;
    expect((await t.request({ method: 'GET', url: '/v1/mfa/webauthn/credentials', token: other.token })).json().items).toEqual([]);
    const foreign = await t.request({ method: 'DELETE', url: `/v1/mfa/webauthn/credentials/${credential.id}`, token: other.token, payload: { password: other.password } });
    expect(foreign.statusCode).toBe(404);
  });

  it('stores only public key material for passkeys', async () => {
    const owner = await withPasskey();
    const rows = await t.app.services.db.selectFrom('webauthn_credentials').selectAll().where('user_id', '=', owner.userId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.credential_id).toBe(owner.authenticator.id);
  });
});

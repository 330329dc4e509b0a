import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { totpCode } from '../harness/totp.js';

describe.each(DIALECTS)('second factors on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true, env: { CONFIDE_SIGNIN_MAX_FAILURES: '8' } });
  });
  afterAll(() => t.close());

  const post = (url: string, token: string | undefined, payload?: object) => t.request({ method: 'POST', url, token, ...(payload ? { payload } : {}) });
  const mailTo = async (email: string) => {
    return (await t.mailTo(email)).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1] ?? '');
  };

  /** A tenant owner with a confirmed authenticator app; returns the secret and recovery codes. */
  async function enrolled(): Promise<TestTenant & { secret: string; recoveryCodes: string[] }> {
    const owner = await buildTenant(t);
    const begin = await post('/v1/mfa/totp', owner.token);
    expect(begin.statusCode, begin.body).toBe(201);
    const { secret } = begin.json();
    const confirm = await post('/v1/mfa/totp/confirm', owner.token, { code: await totpCode(t, secret) });
    expect(confirm.statusCode, confirm.body).toBe(200);
    t.clock.advance(30); // the next code is a new step
    return { ...owner, secret, recoveryCodes: confirm.json().recoveryCodes };
  }

  async function challengeFor(owner: TestTenant): Promise<string> {
    const response = await post('/v1/sessions', undefined, { email: owner.email, password: owner.password });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ mfaRequired: true, methods: ['totp', 'recoveryCode'] });
    expect(response.json().token).toBeUndefined();
    return response.json().challenge;
  }

  it('enrols an authenticator app: an otpauth URI, active only after a first correct code, with 10 recovery codes', async () => {
    const owner = await buildTenant(t);
    const begin = await post('/v1/mfa/totp', owner.token);
    expect(begin.statusCode).toBe(201);
    const { secret, otpauthUri } = begin.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits, base32
    expect(otpauthUri).toBe(`otpauth://totp/Confide:${encodeURIComponent(owner.email)}?secret=${secret}&issuer=Confide`);

    // Pending: sign-in does not ask for it yet, and /me says no.
    expect((await post('/v1/sessions', undefined, { email: owner.email, password: owner.password })).statusCode).toBe(201);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).json().mfa).toEqual({ totp: false, webauthn: 0, recoveryCodes: 0 });

    const wrong = await post('/v1/mfa/totp/confirm', owner.token, { code: '000000' });
    expect(wrong.statusCode).toBe(401);
    const confirm = await post('/v1/mfa/totp/confirm', owner.token, { code: await totpCode(t, secret) });
    expect(confirm.statusCode).toBe(200);
    const codes: string[] = confirm.json().recoveryCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(codes.every((code) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(code))).toBe(true);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: owner.token })).json().mfa).toEqual({ totp: true, webauthn: 0, recoveryCodes: 10 });
    expect(await mailTo(owner.email)).toContain('Confide: Two-step sign-in was turned on');
  });

  it('stores the TOTP secret encrypted and the recovery codes only as keyed hashes', async () => {
    const owner = await enrolled();
    const factor = await t.app.services.db.selectFrom('totp_factors').selectAll().where('user_id', '=', owner.userId).executeTakeFirstOrThrow();
    expect(factor.secret_enc).toMatch(/^c1\.A256GCM\./);
    expect(factor.secret_enc).not.toContain(owner.secret);
    const codes = await t.app.services.db.selectFrom('recovery_codes').selectAll().where('user_id', '=', owner.userId).execute();
    expect(codes).toHaveLength(10);
    const stored = JSON.stringify(codes);
    for (const code of owner.recoveryCodes) expect(stored).not.toContain(code.replace('-', ''));
  });

  it('then asks for the second factor at sign-in, and a TOTP code completes it', async () => {
    const owner = await enrolled();
    const challenge = await challengeFor(owner);
    // The challenge is not a session.
    expect((await t.request({ method: 'GET', url: '/v1/me', token: challenge })).statusCode).toBe(401);
    const done = await post('/v1/sessions/mfa', undefined, { challenge, code: await totpCode(t, owner.secret) });
    expect(done.statusCode, done.body).toBe(201);
    expect(done.json()).toMatchObject({ tenantId: owner.tenantId, userId: owner.userId });
    expect((await t.request({ method: 'GET', url: '/v1/me', token: done.json().token })).statusCode).toBe(200);
    // A challenge is used once.
    expect((await post('/v1/sessions/mfa', undefined, { challenge, code: await totpCode(t, owner.secret) })).statusCode).toBe(401);
  });

  it('refuses a replayed code, even in a new sign-in, and logs the replay', async () => {
    const owner = await enrolled();
    const code = await totpCode(t, owner.secret);
    expect((await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code })).statusCode).toBe(201);
    const replay = await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code });
    expect(replay.statusCode).toBe(401);
    expect(errorCode(replay)).toBe('UNAUTHENTICATED');
    // Said plainly, so a person waits for the next code instead of retyping this one.
    expect(replay.json().error.details).toEqual({ reason: 'code_already_used' });
    expect(replay.json().error.message).toMatch(/already used.*next one/);
    const wrong = await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code: code === '000000' ? '111111' : '000000' });
    expect(wrong.json().error.details).toEqual({ reason: 'wrong_code' });
    const logged = t.logs.filter((line) => line.includes('mfa.totp.replay') && line.includes(owner.userId));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.join()).not.toContain(code);
  });

  it('refuses and logs a replayed code when it is offered as re-authentication too', async () => {
    const owner = await enrolled();
    const code = await totpCode(t, owner.secret);
    expect((await post('/v1/mfa/recovery-codes', owner.token, { code })).statusCode).toBe(200);
    const before = t.logs.filter((line) => line.includes('mfa.totp.replay') && line.includes(owner.userId)).length;
    const replay = await post('/v1/mfa/recovery-codes', owner.token, { code });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.details).toEqual({ reason: 'code_already_used' });
    expect(t.logs.filter((line) => line.includes('mfa.totp.replay') && line.includes(owner.userId)).length).toBe(before + 1);
  });

  it('accepts a code from the step before or after (clock drift), not two steps away', async () => {
    const owner = await enrolled();
    expect((await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code: await totpCode(t, owner.secret, -2) })).statusCode).toBe(401);
    expect((await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code: await totpCode(t, owner.secret, +1) })).statusCode).toBe(201);
  });

  it('signs in with a recovery code once per code, and tells the user by e-mail', async () => {
    const owner = await enrolled();
    const [first] = owner.recoveryCodes;
    const ok = await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), recoveryCode: first!.toUpperCase() });
    expect(ok.statusCode).toBe(201);
    const again = await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), recoveryCode: first });
    expect(again.statusCode).toBe(401);
    expect(await mailTo(owner.email)).toContain('Confide: A recovery code was used to sign in');
  });

  it('expires the challenge after 5 minutes and allows only a few attempts', async () => {
    const owner = await enrolled();
    const stale = await challengeFor(owner);
    t.clock.advance(301);
    expect((await post('/v1/sessions/mfa', undefined, { challenge: stale, code: await totpCode(t, owner.secret) })).statusCode).toBe(401);

    const challenge = await challengeFor(owner);
    for (let i = 0; i < 5; i += 1) expect((await post('/v1/sessions/mfa', undefined, { challenge, code: '123456' })).statusCode).toBe(401);
    const late = await post('/v1/sessions/mfa', undefined, { challenge, code: await totpCode(t, owner.secret) });
    expect(late.statusCode).toBe(401);
  });

  it('counts wrong codes against the account, so new challenges buy no extra guesses', async () => {
    const owner = await enrolled();
    for (let i = 0; i < 8; i += 1) {
      await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), code: '000000' });
    }
    const blocked = await post('/v1/sessions', undefined, { email: owner.email, password: owner.password });
    expect(blocked.statusCode).toBe(429);
    t.clock.advance(301);
  });

  it('asks for a fresh password or code before changing factors, after 5 minutes', async () => {
    const owner = await enrolled();
    t.clock.advance(301);
    const stale = await post('/v1/mfa/recovery-codes', owner.token);
    expect(stale.statusCode).toBe(403);
    expect(errorCode(stale)).toBe('REAUTHENTICATION_REQUIRED');
    const wrong = await post('/v1/mfa/recovery-codes', owner.token, { password: 'not-my-password-at-all' });
    expect(wrong.statusCode).toBe(401);
    const fresh = await post('/v1/mfa/recovery-codes', owner.token, { password: owner.password });
    expect(fresh.statusCode).toBe(200);
    const newCodes: string[] = fresh.json().recoveryCodes;
    expect(newCodes.some((code) => owner.recoveryCodes.includes(code))).toBe(false);
    expect(await mailTo(owner.email)).toContain('Confide: New recovery codes were created');

    // The old set no longer works; the new one does.
    expect((await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), recoveryCode: owner.recoveryCodes[0] })).statusCode).toBe(401);
    expect((await post('/v1/sessions/mfa', undefined, { challenge: await challengeFor(owner), recoveryCode: newCodes[0] })).statusCode).toBe(201);
  });

  it('removes the authenticator app with a current code: sign-in is one step again, recovery codes are gone', async () => {
    const owner = await enrolled();
    t.clock.advance(301);
    expect((await t.request({ method: 'DELETE', url: '/v1/mfa/totp', token: owner.token })).statusCode).toBe(403);
    const removed = await t.request({ method: 'DELETE', url: '/v1/mfa/totp', token: owner.token, payload: { code: await totpCode(t, owner.secret) } });
    expect(removed.statusCode, removed.body).toBe(204);
    expect((await post('/v1/sessions', undefined, { email: owner.email, password: owner.password })).statusCode).toBe(201);
    const left = await t.app.services.db.selectFrom('recovery_codes').select('id').where('user_id', '=', owner.userId).execute();
    expect(left).toEqual([]);
    expect(await mailTo(owner.email)).toContain('Confide: Your authenticator app was removed');
  });

  it('refuses to start a second authenticator app while one is active', async () => {
    const owner = await enrolled();
    const again = await post('/v1/mfa/totp', owner.token, { code: await totpCode(t, owner.secret) });
    expect(again.statusCode).toBe(409);
    expect(errorCode(again)).toBe('CONFLICT');
  });

  it.each([
    ['no challenge', { code: '123456' }],
    ['an unknown field', { challenge: 'x', code: '1', extra: true }],
    ['a number code', { challenge: 'x', code: 123456 }],
  ])('answers a malformed second step (%s) with VALIDATION_FAILED', async (_name, payload) => {
    const response = await post('/v1/sessions/mfa', undefined, payload);
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('VALIDATION_FAILED');
  });

  it('requires authentication for every factor endpoint', async () => {
    for (const [method, url] of [['POST', '/v1/mfa/totp'], ['POST', '/v1/mfa/totp/confirm'], ['DELETE', '/v1/mfa/totp'], ['POST', '/v1/mfa/recovery-codes']] as const) {
      const response = await t.request({ method, url, payload: { code: '123456' } });
      expect(response.statusCode, url).toBe(401);
    }
  });

  it('records every factor change as a security event of the user, which the tenant’s owners read', async () => {
    const owner = await enrolled();
    const code = await totpCode(t, owner.secret, +1);
    expect((await post('/v1/mfa/recovery-codes', owner.token, { code })).statusCode).toBe(200);
    expect((await t.request({ method: 'DELETE', url: '/v1/mfa/totp', token: owner.token, payload: {} })).statusCode).toBe(204);
    await t.app.services.securityEvents.flush();
    const events = await t.request({ method: 'GET', url: '/v1/security-events?limit=100', token: owner.token });
    const mine = (events.json().items as Array<{ type: string; actor: unknown }>).filter((e) => e.type.startsWith('mfa.'));
    expect(mine.map((e) => e.type)).toEqual(['mfa.totp.removed', 'mfa.recoveryCodes.regenerated', 'mfa.totp.enabled']);
    for (const event of mine) expect(event.actor).toEqual({ type: 'member', id: owner.userId });
  });
});

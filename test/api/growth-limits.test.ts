import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode, inviteToken, signIn, strongPassword, type TestTenant } from '../harness/builders.js';

/**
 * Issue 6, items 8–10: everything a client can make exist or make Confide send has a cap,
 * answered in the contract's shape, changing nothing.
 */
describe.each(DIALECTS)('limits on growth on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, {
      smtp: true,
      env: {
        CONFIDE_MAX_SESSIONS_PER_USER: '3',
        CONFIDE_MAX_API_KEYS_PER_TENANT: '2',
        CONFIDE_MAX_COLLECTIONS_PER_TENANT: '2',
        CONFIDE_INVITATIONS_PER_HOUR: '4',
        CONFIDE_MAX_PENDING_INVITATIONS: '2',
      },
    });
  });
  afterAll(() => t.close());

  let counter = 0;
  const fresh = (what: string) => `${what}-${Date.now()}-${counter++}@example.test`;
  const countRows = async (table: 'tenants' | 'collections' | 'records' | 'invitations' | 'api_keys', tenantId?: string) => {
    let query = t.app.services.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n'));
    if (tenantId) query = query.where('tenant_id', '=', tenantId);
    return Number((await query.executeTakeFirstOrThrow()).n);
  };

  let owner: TestTenant;
  beforeAll(async () => {
    owner = await buildTenant(t);
  });

  it('ends the oldest sessions beyond the per-user cap', async () => {
    const user = await buildTenant(t);
    const tokens = [user.token];
    for (let i = 0; i < 4; i += 1) tokens.push((await signIn(t, user.email, user.password)).token);
    const me = (token: string) => t.request({ method: 'GET', url: '/v1/me', token });
    expect((await me(tokens[0]!)).statusCode).toBe(401);
    expect((await me(tokens[1]!)).statusCode).toBe(401);
    for (const token of tokens.slice(2)) expect((await me(token)).statusCode).toBe(200);
    const sessions = await t.request({ method: 'GET', url: '/v1/sessions', token: tokens[4]! });
    expect(sessions.json().items).toHaveLength(3);
  });

  it('caps live API keys per tenant; revoking one makes room', async () => {
    const tenant = await buildTenant(t);
    const create = () => t.request({ method: 'POST', url: '/v1/api-keys', token: tenant.token, payload: { name: 'k', scope: 'read' } });
    const first = await create();
    expect((await create()).statusCode).toBe(201);
    const third = await create();
    expect(third.statusCode).toBe(409);
    expect(errorCode(third)).toBe('LIMIT_REACHED');
    expect(third.json().error.details).toEqual({ resource: 'apiKeys', limit: 2 });
    expect(await countRows('api_keys', tenant.tenantId)).toBe(2);
    expect((await t.request({ method: 'DELETE', url: `/v1/api-keys/${first.json().id}`, token: tenant.token })).statusCode).toBe(204);
    expect((await create()).statusCode).toBe(201);
  });

  it('caps collections per tenant: a write to one more is refused and changes nothing', async () => {
    const tenant = await buildTenant(t);
    const write = (collection: string) => t.request({ method: 'POST', url: `/v1/collections/${collection}/records`, token: tenant.token, payload: { a: 1 } });
    expect((await write('first')).statusCode).toBe(201);
    expect((await write('second')).statusCode).toBe(201);
    const logBefore = await t.app.services.db.selectFrom('access_log').select('seq').where('tenant_id', '=', tenant.tenantId).execute();
    const third = await write('third');
    expect(third.statusCode).toBe(409);
    expect(errorCode(third)).toBe('LIMIT_REACHED');
    expect(third.json().error.details).toEqual({ resource: 'collections', limit: 2 });
    expect(await countRows('collections', tenant.tenantId)).toBe(2);
    expect(await countRows('records', tenant.tenantId)).toBe(2);
    const logAfter = await t.app.services.db.selectFrom('access_log').select('seq').where('tenant_id', '=', tenant.tenantId).execute();
    expect(logAfter).toHaveLength(logBefore.length);
    // The existing collections keep working.
    expect((await write('first')).statusCode).toBe(201);
  });

  it('counts parallel invitations one at a time: ten sent at once create no more than the pending cap allows', async () => {
    const tenant = await buildTenant(t);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.request({ method: 'POST', url: '/v1/invitations', token: tenant.token, payload: { email: fresh(`burst-${i}`), role: 'member' } })),
    );
    expect(answers.filter((response) => response.statusCode === 201)).toHaveLength(2);
    expect(answers.filter((response) => response.statusCode === 409)).toHaveLength(8);
    expect(await countRows('invitations', tenant.tenantId)).toBe(2);
  });

  it('keeps another tenant’s invitations out of reach: not listed, not revocable (404)', async () => {
    const other = await buildTenant(t);
    const response = await t.request({ method: 'POST', url: '/v1/invitations', token: other.token, payload: { email: fresh('x'), role: 'member' } });
    expect(response.statusCode).toBe(201);
    const foreign = await t.request({ method: 'DELETE', url: `/v1/invitations/${response.json().id}`, token: owner.token });
    expect(foreign.statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/v1/invitations', token: owner.token })).json().items).toEqual([]);
  });

  it('refuses control characters in organisation and API key names, creating nothing', async () => {
    const tenantsBefore = await countRows('tenants');
    for (const organization of ['Acme\r\nBcc: victim@example.test', 'Tab\there', 'Evil\u202Egnp.exe', 'Line\u2028break']) {
      const response = await t.request({ method: 'POST', url: '/v1/signup', remoteAddress: '198.51.100.200', payload: { organization, email: fresh('cc'), password: strongPassword() } });
      expect(response.statusCode, organization).toBe(400);
      expect(errorCode(response)).toBe('VALIDATION_FAILED');
      expect(response.json().error.details).toEqual({ field: 'organization', reason: 'control_characters' });
    }
    expect(await countRows('tenants')).toBe(tenantsBefore);
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'nightly\nexport', scope: 'read' } });
    expect(key.statusCode).toBe(400);
    expect(key.json().error.details).toEqual({ field: 'name', reason: 'control_characters' });
    // Ordinary names in any script are fine.
    const ok = await t.request({ method: 'POST', url: '/v1/signup', remoteAddress: '198.51.100.201', payload: { organization: 'Zürich Ärzte – 東京', email: fresh('ok'), password: strongPassword() } });
    expect(ok.statusCode).toBe(201);
  });
  it('lists pending invitations, revokes one (its token stops working), and caps pending and hourly invitations', async () => {
    const tenant = await buildTenant(t);
    const invite = (email: string) => t.request({ method: 'POST', url: '/v1/invitations', token: tenant.token, payload: { email, role: 'member' } });
    const first = fresh('first');
    const firstToken = await inviteToken(t, tenant, first);
    const second = fresh('second');
    expect((await invite(second)).statusCode).toBe(201);

    const listed = await t.request({ method: 'GET', url: '/v1/invitations', token: tenant.token });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items.map((i: { email: string; role: string; invitedBy: string }) => [i.email, i.role, i.invitedBy])).toEqual([
      [first, 'member', tenant.userId],
      [second, 'member', tenant.userId],
    ]);
    expect(listed.body).not.toContain('cfi_');

    // Two pending: a third waits for room.
    const third = await invite(fresh('third'));
    expect(third.statusCode).toBe(409);
    expect(errorCode(third)).toBe('LIMIT_REACHED');
    expect(third.json().error.details).toEqual({ resource: 'pendingInvitations', limit: 2 });

    const firstId = listed.json().items[0].id as string;
    expect((await t.request({ method: 'DELETE', url: `/v1/invitations/${firstId}`, token: tenant.token })).statusCode).toBe(204);
    expect((await t.request({ method: 'DELETE', url: `/v1/invitations/${firstId}`, token: tenant.token })).statusCode).toBe(404);
    const accept = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token: firstToken, password: strongPassword() } });
    expect(accept.statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/invitations', token: tenant.token })).json().items).toHaveLength(1);

    // Room again: two more sends make four this hour (the revoked one counts), then 429 until the hour passes.
    const fourth = await invite(fresh('fourth'));
    expect(fourth.statusCode).toBe(201);
    expect((await t.request({ method: 'DELETE', url: `/v1/invitations/${fourth.json().id}`, token: tenant.token })).statusCode).toBe(204);
    const fifth = await invite(fresh('fifth'));
    expect(fifth.statusCode).toBe(201);
    expect((await t.request({ method: 'DELETE', url: `/v1/invitations/${fifth.json().id}`, token: tenant.token })).statusCode).toBe(204);
    const before = await countRows('invitations', tenant.tenantId);
    const limited = await invite(fresh('sixth'));
    expect(limited.statusCode).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(3600);
    expect(await countRows('invitations', tenant.tenantId)).toBe(before);

    // (Moving the clock ends the sessions too: this test runs last in its group.)
    t.clock.advance(3601);
    const again = await signIn(t, tenant.email, tenant.password);
    const later = await t.request({ method: 'POST', url: '/v1/invitations', token: again.token, payload: { email: fresh('later'), role: 'member' } });
    expect(later.statusCode).toBe(201);
  });
});

describe.each(DIALECTS)('sign-up rate on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_SIGNUPS_PER_IP_PER_HOUR: '3' } });
  });
  afterAll(() => t.close());
  let counter = 0;
  const fresh = (what: string) => `${what}-${Date.now()}-${counter++}@example.test`;
  const countTenants = async () => Number((await t.app.services.db.selectFrom('tenants').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('limits sign-ups per client address (429 with Retry-After and RateLimit headers); other addresses are unaffected', async () => {
    const signUp = (remoteAddress: string) =>
      t.request({ method: 'POST', url: '/v1/signup', remoteAddress, payload: { organization: 'Burst', email: fresh('burst'), password: strongPassword() } });
    for (let i = 0; i < 3; i += 1) expect((await signUp('203.0.113.50')).statusCode).toBe(201);
    const tenantsBefore = await countTenants();
    const limited = await signUp('203.0.113.50');
    expect(limited.statusCode).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['ratelimit-limit']).toBe('3');
    expect(limited.headers['strict-transport-security']).toBeDefined();
    expect(await countTenants()).toBe(tenantsBefore);
    expect((await signUp('203.0.113.51')).statusCode).toBe(201);
  });
});

describe.each(DIALECTS)('security event retention on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_SECURITY_EVENT_RETENTION_DAYS: '30' } });
  });
  afterAll(() => t.close());

  it('prunes security events past retention and never the access log', async () => {
    const owner = await buildTenant(t);
    await t.request({ method: 'POST', url: '/v1/collections/notes/records', token: owner.token, payload: { a: 1 } });
    await t.app.services.securityEvents.flush();
    const { db } = t.app.services;
    const eventCount = async () => Number((await db.selectFrom('security_events').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', owner.tenantId).executeTakeFirstOrThrow()).n);
    const logCount = async () => (await db.selectFrom('access_log').select('seq').where('tenant_id', '=', owner.tenantId).execute()).length;
    const oldEvents = await eventCount();
    const oldLog = await logCount();
    expect(oldEvents).toBeGreaterThan(0);
    expect(oldLog).toBeGreaterThan(0);

    expect(await t.app.securityEventRetention.runOnce()).toBe(0); // nothing is old yet
    t.clock.advance(31 * 86_400);
    const fresh = await signIn(t, owner.email, owner.password); // a new event, inside retention
    await t.app.services.securityEvents.flush();
    expect(await t.app.securityEventRetention.runOnce()).toBeGreaterThanOrEqual(oldEvents);
    expect(await eventCount()).toBe(1);
    expect(await logCount()).toBe(oldLog);
    const listed = await t.request({ method: 'GET', url: '/v1/security-events', token: fresh.token });
    expect(listed.json().items.map((e: { type: string }) => e.type)).toEqual(['signin.password']);
  });
});

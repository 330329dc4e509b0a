import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';

describe.each(DIALECTS)('API keys on %s', (dialect) => {
  let t: TestApp;
  let owner: TestTenant;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    owner = await buildTenant(t);
  });
  afterAll(() => t.close());

  const createKey = async (tenant: TestTenant, payload: object) => {
    const response = await t.request({ method: 'POST', url: '/v1/api-keys', token: tenant.token, payload });
    expect(response.statusCode, response.body).toBe(201);
    return response.json<{ id: string; key: string; prefix: string }>();
  };

  it('creates a key shown once, stored only as a hash, listed by its prefix', async () => {
    const created = await createKey(owner, { name: 'ETL job', scope: 'read-write' });
    expect(created.key).toMatch(/^cfk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    const row = await t.app.services.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(created.key);
    expect(row.name_enc).toMatch(/^c1\.A256GCM\./);

    const list = await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token });
    const item = list.json().items.find((k: { id: string }) => k.id === created.id);
    expect(item).toMatchObject({ name: 'ETL job', prefix: created.prefix, scope: 'read-write', createdBy: owner.userId, expiresAt: null, lastUsedAt: null });
    expect(list.body).not.toContain(created.key);
  });

  it('lets a read-write key read and write records, logged with actor type apiKey, and records its last use', async () => {
    const key = await createKey(owner, { name: 'writer', scope: 'read-write' });
    const created = await t.request({ method: 'POST', url: '/v1/collections/machine/records', token: key.key, payload: { from: 'robot' } });
    expect(created.statusCode).toBe(201);
    const read = await t.request({ method: 'GET', url: `/v1/collections/machine/records/${created.json().id}`, token: key.key });
    expect(read.json().data).toEqual({ from: 'robot' });

    const log = await t.request({ method: 'GET', url: '/v1/access-log?actorType=apiKey&limit=500', token: owner.token });
    const entries = log.json().items.filter((e: { actor: { id: string } }) => e.actor.id === key.id);
    expect(entries.map((e: { action: string }) => e.action)).toEqual(['create', 'read']);
    expect(entries[0].actor).toEqual({ type: 'apiKey', id: key.id });

    const listed = (await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token })).json().items.find((k: { id: string }) => k.id === key.id);
    expect(listed.lastUsedAt).not.toBeNull();
  });

  it('lets a read key read but not write', async () => {
    const record = await buildRecord(t, owner, 'shared_ro');
    const key = await createKey(owner, { name: 'reader', scope: 'read' });
    expect((await t.request({ method: 'GET', url: `/v1/collections/shared_ro/records/${record.id}`, token: key.key })).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/collections/shared_ro/records', token: key.key })).statusCode).toBe(200);
    for (const [method, url] of [['POST', '/v1/collections/shared_ro/records'], ['PUT', `/v1/collections/shared_ro/records/${record.id}`], ['DELETE', `/v1/collections/shared_ro/records/${record.id}`]] as const) {
      const response = await t.request({ method, url, token: key.key, ...(method === 'DELETE' ? {} : { payload: { x: 1 } }) });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(errorCode(response)).toBe('FORBIDDEN');
    }
    expect((await t.request({ method: 'GET', url: `/v1/collections/shared_ro/records/${record.id}`, token: owner.token })).json().version).toBe(1);
  });

  it('does not let a key manage keys, read the access log, or act as a user', async () => {
    const key = await createKey(owner, { name: 'limited', scope: 'read-write' });
    for (const [method, url] of [['GET', '/v1/api-keys'], ['POST', '/v1/api-keys'], ['GET', '/v1/access-log'], ['GET', '/v1/me'], ['POST', '/v1/mfa/totp'], ['DELETE', '/v1/sessions/current']] as const) {
      const response = await t.request({ method, url, token: key.key, ...(method === 'POST' ? { payload: { name: 'x', scope: 'read' } } : {}) });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
    }
  });

  it('stops a revoked key at once, and an expired key at its expiry', async () => {
    const revoked = await createKey(owner, { name: 'soon revoked', scope: 'read' });
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: revoked.key })).statusCode).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/api-keys/${revoked.id}`, token: owner.token })).statusCode).toBe(204);
    const after = await t.request({ method: 'GET', url: '/v1/collections/x/records', token: revoked.key });
    expect(after.statusCode).toBe(401);
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
    expect((await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token })).json().items.map((k: { id: string }) => k.id)).not.toContain(revoked.id);

    const expiring = await createKey(owner, { name: 'short-lived', scope: 'read', expiresAt: new Date(t.clock.now().getTime() + 120_000).toISOString() });
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: expiring.key })).statusCode).toBe(200);
    t.clock.advance(121);
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: expiring.key })).statusCode).toBe(401);
  });

  it('keeps keys to their tenant: another tenant cannot see, revoke or use them against its data', async () => {
    const other = await buildTenant(t);
    const key = await createKey(owner, { name: 'mine', scope: 'read-write' });
    const otherRecord = await buildRecord(t, other, 'private');
    expect((await t.request({ method: 'GET', url: `/v1/collections/private/records/${otherRecord.id}`, token: key.key })).statusCode).toBe(404);
    const revokeForeign = await t.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, token: other.token });
    expect(revokeForeign.statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/v1/api-keys', token: other.token })).json().items).toEqual([]);
    expect((await t.request({ method: 'GET', url: '/v1/collections/x/records', token: key.key })).statusCode).toBe(200);
  });

  it('lets only owners and admins manage keys', async () => {
    const tenant = await buildTenant(t);
    await t.app.services.db.updateTable('memberships').set({ role: 'member' }).where('user_id', '=', tenant.userId).execute();
    const member = await signIn(t, tenant.email, tenant.password);
    const response = await t.request({ method: 'POST', url: '/v1/api-keys', token: member.token, payload: { name: 'x', scope: 'read' } });
    expect(response.statusCode).toBe(403);
  });

  it.each([
    ['an unknown scope', { name: 'k', scope: 'admin' }],
    ['a missing name', { scope: 'read' }],
    ['an expiry in the past', { name: 'k', scope: 'read', expiresAt: '2000-01-01T00:00:00Z' }],
    ['a malformed expiry', { name: 'k', scope: 'read', expiresAt: 'tomorrow' }],
    ['an unknown field', { name: 'k', scope: 'read', tenantId: 'x' }],
  ])('refuses to create a key with %s', async (_name, payload) => {
    const before = (await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token })).json().items.length;
    const response = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload });
    expect(response.statusCode).toBe(400);
    expect(errorCode(response)).toBe('VALIDATION_FAILED');
    expect((await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token })).json().items.length).toBe(before);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildTenant, type TestTenant } from '../harness/builders.js';

/** Issue 6, item 3: an API key does not outlive its creator's right to make it. */
describe.each(DIALECTS)('API keys of removed or demoted members on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
  });
  afterAll(() => t.close());

  async function createKey(creator: TestTenant, scope: 'read' | 'read-write' = 'read-write'): Promise<{ id: string; key: string }> {
    const response = await t.request({ method: 'POST', url: '/v1/api-keys', token: creator.token, payload: { name: `key of ${creator.email}`, scope } });
    expect(response.statusCode, response.body).toBe(201);
    return response.json();
  }
  const useKey = (key: string) => t.request({ method: 'POST', url: '/v1/collections/notes/records', token: key, payload: { n: 1 } });
  const readWithKey = (key: string) => t.request({ method: 'GET', url: '/v1/collections/notes/records', token: key });

  async function latestEvent(owner: TestTenant, type: string) {
    await t.app.services.securityEvents.flush();
    const events = await t.request({ method: 'GET', url: `/v1/security-events?type=${type}`, token: owner.token });
    return events.json().items[0];
  }

  it('revokes the keys a removed admin created, says so in the event, and leaves other keys working', async () => {
    const owner = await buildTenant(t);
    const admin = await buildMember(t, owner, 'admin');
    const adminKey = await createKey(admin);
    const readKey = await createKey(admin, 'read');
    const ownerKey = await createKey(owner);
    expect((await useKey(adminKey.key)).statusCode).toBe(201);

    const removed = await t.request({ method: 'DELETE', url: `/v1/members/${admin.userId}`, token: owner.token });
    expect(removed.statusCode).toBe(204);

    expect((await useKey(adminKey.key)).statusCode).toBe(401);
    expect((await readWithKey(readKey.key)).statusCode).toBe(401);
    expect((await useKey(ownerKey.key)).statusCode).toBe(201);
    const listed = await t.request({ method: 'GET', url: '/v1/api-keys', token: owner.token });
    expect(listed.json().items.map((k: { id: string }) => k.id)).toEqual([ownerKey.id]);

    const event = await latestEvent(owner, 'member.removed');
    expect(event.actor).toEqual({ type: 'member', id: owner.userId });
    expect(event.details.memberId).toBe(admin.userId);
    expect([...event.details.revokedApiKeys].sort()).toEqual([adminKey.id, readKey.id].sort());
  });

  it('revokes the keys of an admin lowered to member, but not of one raised to owner', async () => {
    const owner = await buildTenant(t);
    const demoted = await buildMember(t, owner, 'admin');
    const promoted = await buildMember(t, owner, 'admin');
    const demotedKey = await createKey(demoted);
    const promotedKey = await createKey(promoted);

    const lowered = await t.request({ method: 'PATCH', url: `/v1/members/${demoted.userId}`, token: owner.token, payload: { role: 'member' } });
    expect(lowered.statusCode).toBe(200);
    expect((await useKey(demotedKey.key)).statusCode).toBe(401);
    expect((await latestEvent(owner, 'member.role.changed')).details).toEqual({ memberId: demoted.userId, role: 'member', revokedApiKeys: [demotedKey.id] });

    const raised = await t.request({ method: 'PATCH', url: `/v1/members/${promoted.userId}`, token: owner.token, payload: { role: 'owner' } });
    expect(raised.statusCode).toBe(200);
    expect((await useKey(promotedKey.key)).statusCode).toBe(201);
    expect((await latestEvent(owner, 'member.role.changed')).details.revokedApiKeys).toEqual([]);
  });

  it('names who created and who revoked a key in its security events', async () => {
    const owner = await buildTenant(t);
    const admin = await buildMember(t, owner, 'admin');
    const key = await createKey(admin);
    expect((await latestEvent(owner, 'apiKey.created')).actor).toEqual({ type: 'member', id: admin.userId });
    expect((await t.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, token: owner.token })).statusCode).toBe(204);
    expect((await latestEvent(owner, 'apiKey.revoked')).actor).toEqual({ type: 'member', id: owner.userId });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { buildStaff, type TestStaff } from '../harness/staff.js';
import { insertGrantFixture } from '../harness/grant-fixture.js';

interface StaffEvent {
  id: string;
  at: string;
  type: string;
  outcome: string;
  actor: { type: string; id: string } | null;
  tenantId: string | null;
  ip: string;
  details?: Record<string, unknown>;
}

describe.each(DIALECTS)('staff events on %s', (dialect) => {
  let t: TestApp;
  let tenantA: TestTenant;
  let tenantB: TestTenant;
  let securityAdmin: TestStaff;
  let support: TestStaff;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    [tenantA, tenantB] = [await buildTenant(t), await buildTenant(t)];
    securityAdmin = await buildStaff(t, { role: 'security-admin' });
    support = await buildStaff(t);
    // The support engineer uses a grant on A and is refused on B.
    const record = await buildRecord(t, tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: support.id, scope: 'read' });
    expect((await t.admin({ method: 'GET', url: `/admin/v1/tenants/${tenantA.tenantId}/collections/patients/records/${record.id}`, token: support.token })).statusCode).toBe(200);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/tenants/${tenantB.tenantId}/collections`, token: support.token })).statusCode).toBe(403);
    await t.app.services.securityEvents.flush();
  });
  afterAll(() => t.close());

  async function allStaffEvents(query = '', pageSize = 500): Promise<StaffEvent[]> {
    const events: StaffEvent[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/admin/v1/staff-events?limit=${pageSize}${query}${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.admin({ method: 'GET', url, token: securityAdmin.token });
      expect(page.statusCode, page.body).toBe(200);
      events.push(...page.json().items);
      cursor = page.json().nextCursor;
    } while (cursor);
    return events;
  }

  it('is for security-admins only: 401 without a staff session, 403 for support (ASVS 8.2.1)', async () => {
    expect((await t.admin({ method: 'GET', url: '/admin/v1/staff-events' })).statusCode).toBe(401);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/staff-events', token: tenantA.token })).statusCode).toBe(401);
    const refused = await t.admin({ method: 'GET', url: '/admin/v1/staff-events', token: support.token });
    expect(refused.statusCode).toBe(403);
    expect(errorCode(refused)).toBe('FORBIDDEN');
  });

  it('lists every staff action across tenants, newest first, and no customer event (ASVS 16.3.1–16.3.3)', async () => {
    const events = await allStaffEvents();
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((event) => !(event.actor?.type === 'staff' || event.type.startsWith('staff.')))).toEqual([]);
    const ids = events.map((event) => event.id);
    expect(ids).toEqual([...ids].sort().reverse());
    const used = events.find((event) => event.type === 'staff.grant.used');
    expect(used).toMatchObject({ actor: { type: 'staff', id: support.id }, tenantId: tenantA.tenantId, outcome: 'success', details: { action: 'read', scope: 'read' } });
    const refused = events.find((event) => event.type === 'staff.grant.refused');
    expect(refused).toMatchObject({ actor: { type: 'staff', id: support.id }, tenantId: tenantB.tenantId, outcome: 'refused', details: { scope: 'metadata', why: 'none' } });
    // Sign-ins of both staff members are there too, though they concern no tenant.
    for (const staff of [support, securityAdmin]) {
      expect(events.some((event) => event.actor?.id === staff.id && event.type.startsWith('staff.signin'))).toBe(true);
    }
    // The tenants' own sign-ins and record writes are not staff events.
    const stored = await t.app.services.db.selectFrom('security_events').select(['actor_type', 'type']).execute();
    expect(stored.some((row) => row.actor_type === 'member')).toBe(true);
    expect(events.length).toBe(stored.filter((row) => row.actor_type === 'staff' || row.type.startsWith('staff.')).length);
  });

  it('includes staff.* events that have no actor, and only those of the events without one', async () => {
    t.app.services.securityEvents.record({ type: 'staff.signin.password', outcome: 'failure', ip: '198.51.100.4', details: { reason: 'unknown_email' } });
    t.app.services.securityEvents.record({ type: 'signin.password', outcome: 'failure', ip: '198.51.100.5', details: { reason: 'unknown_email' } });
    await t.app.services.securityEvents.flush();
    const events = await allStaffEvents();
    expect(events.filter((event) => event.actor === null).map((event) => [event.type, event.ip])).toEqual([['staff.signin.password', '198.51.100.4']]);
  });

  it('staffId keeps one staff member’s events', async () => {
    const mine = await allStaffEvents(`&staffId=${support.id}`);
    expect(mine.length).toBeGreaterThanOrEqual(3);
    expect(mine.every((event) => event.actor?.id === support.id)).toBe(true);
    expect((await allStaffEvents()).filter((event) => event.actor?.id === support.id)).toEqual(mine);
  });

  it('pages follow the cursor with no gap or repeat, and a page stops before CONFIDE_LIST_MAX_BYTES', async () => {
    const whole = await allStaffEvents();
    expect(whole.length).toBeGreaterThan(3);
    expect(await allStaffEvents('', 2)).toEqual(whole);
    const bounded = await createTestApp(dialect, { env: { CONFIDE_LIST_MAX_BYTES: '1024' } });
    try {
      const admin = await buildStaff(bounded, { role: 'security-admin' });
      for (let i = 0; i < 10; i += 1) bounded.app.services.securityEvents.record({ type: 'staff.grant.refused', outcome: 'refused', actor: { type: 'staff', id: admin.id }, details: { padding: 'x'.repeat(200) } });
      await bounded.app.services.securityEvents.flush();
      const page = await bounded.admin({ method: 'GET', url: '/admin/v1/staff-events?limit=500', token: admin.token });
      expect(page.statusCode, page.body).toBe(200);
      expect(Buffer.byteLength(page.body)).toBeLessThanOrEqual(1024);
      expect(page.json().items.length).toBeGreaterThan(0);
      expect(page.json().nextCursor).toEqual(expect.any(String));
    } finally {
      await bounded.close();
    }
  });

  it('a tenant sees the staff events about it in GET /v1/security-events, and never another tenant’s', async () => {
    const ofA = (await t.request({ method: 'GET', url: '/v1/security-events?limit=500', token: tenantA.token })).json().items as StaffEvent[];
    const ofB = (await t.request({ method: 'GET', url: '/v1/security-events?limit=500', token: tenantB.token })).json().items as StaffEvent[];
    expect(ofA.filter((event) => event.type === 'staff.grant.used')).toHaveLength(1);
    expect(ofA.find((event) => event.type === 'staff.grant.used')).toMatchObject({ actor: { type: 'staff', id: support.id }, details: { action: 'read' } });
    expect(ofA.some((event) => event.type === 'staff.grant.refused')).toBe(false);
    expect(ofB.filter((event) => event.type === 'staff.grant.refused')).toHaveLength(1);
    expect(ofB.some((event) => event.type === 'staff.grant.used')).toBe(false);
    // Staff sign-ins concern no tenant: neither sees them.
    expect([...ofA, ...ofB].some((event) => event.type.startsWith('staff.signin'))).toBe(false);
  });

  it('shows a tenant’s decision on a request without the deciding member’s address: that is the tenant’s personal data', async () => {
    const owner = await buildTenant(t);
    const asked = await t.admin({
      method: 'POST',
      url: '/admin/v1/access-requests',
      token: support.token,
      payload: { tenantId: owner.tenantId, scope: 'metadata', justification: 'CUSTOMER_INITIATED_SUPPORT', reason: 'Customer asks how many records their export holds', durationMinutes: 30 },
    });
    expect(asked.statusCode, asked.body).toBe(201);
    const approved = await t.request({ method: 'POST', url: `/v1/access-requests/${asked.json().id}/approve`, token: owner.token, remoteAddress: '203.0.113.77' });
    expect(approved.statusCode, approved.body).toBe(200);
    await t.app.services.securityEvents.flush();
    const decision = (await allStaffEvents()).find((event) => event.type === 'staff.access.approved' && event.actor?.id === owner.userId);
    expect(decision).toMatchObject({ actor: { type: 'member', id: owner.userId }, tenantId: owner.tenantId, ip: '' });
    // The tenant itself still sees who approved, from where.
    const own = await t.request({ method: 'GET', url: '/v1/security-events?type=staff.access.approved', token: owner.token });
    expect(own.json().items[0]).toMatchObject({ ip: '203.0.113.77' });
  });
});

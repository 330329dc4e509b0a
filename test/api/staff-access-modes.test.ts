import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildTenant, errorCode } from '../harness/builders.js';
import { buildStaff, type TestStaff } from '../harness/staff.js';
import { ask, asked, mailBodies, REASON, setStaffAccess, storedCounts, tenantEvents } from './staff-access-fixtures.js';

const INCIDENT = { justification: 'INCIDENT_RESPONSE', breakGlass: true, scope: 'read-write', reason: 'Active incident: data corruption reported across the tenant, paging on-call' } as const;

/**
 * Issue 9 items 4, 5 and 7: the tenant's modes (`deny`, `notify`) and break-glass with its
 * two-person rule (SECURITY-CRITERIA 2.3.5), with the mails and events each produces.
 */
describe.each(DIALECTS)('staff access modes and break-glass on %s', (dialect) => {
  let t: TestApp;
  let support: TestStaff;
  let securityAdmin: TestStaff;
  let secondAdmin: TestStaff;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
    support = await buildStaff(t, { role: 'support' });
    securityAdmin = await buildStaff(t, { role: 'security-admin' });
    secondAdmin = await buildStaff(t, { role: 'security-admin' });
  });
  afterAll(() => t.close());

  it('deny: refuses every request, break-glass too, stores nothing but a staff.access.refused event, mails no one', async () => {
    const owner = await buildTenant(t);
    await setStaffAccess(t, owner, { staffAccess: 'deny' });
    const mailsBefore = (await mailBodies(t, owner.email)).length;

    const refused = await ask(t, support, owner.tenantId);
    expect(refused.statusCode).toBe(403);
    expect(errorCode(refused)).toBe('STAFF_ACCESS_DENIED');
    const breakGlass = await ask(t, securityAdmin, owner.tenantId, INCIDENT);
    expect(breakGlass.statusCode).toBe(403);
    expect(errorCode(breakGlass)).toBe('STAFF_ACCESS_DENIED');
    expect(refused.body).not.toContain(REASON);

    expect(await storedCounts(t, owner.tenantId)).toEqual({ requests: 0, grants: 0 });
    expect((await mailBodies(t, owner.email)).length).toBe(mailsBefore);
    const events = await tenantEvents(t, owner, 'staff.access.refused');
    expect(events.map((event) => [event.outcome, event.actor, event.details?.breakGlass])).toEqual([
      ['refused', { type: 'staff', id: securityAdmin.id }, true],
      ['refused', { type: 'staff', id: support.id }, false],
    ]);
    expect(await tenantEvents(t, owner, 'staff.access.requested')).toEqual([]);
  });

  it('deny, chosen later: a live grant stops working and a pending break-glass cannot be activated', async () => {
    const owner = await buildTenant(t);
    await setStaffAccess(t, owner, { staffAccess: 'notify' });
    const granted = await asked(t, support, owner.tenantId, { scope: 'metadata' });
    const metadata = () => t.admin({ method: 'GET', url: `/admin/v1/tenants/${owner.tenantId}/collections`, token: support.token });
    expect((await metadata()).statusCode).toBe(200);
    const emergency = await asked(t, securityAdmin, owner.tenantId, INCIDENT);
    expect(emergency.status).toBe('pending');

    await setStaffAccess(t, owner, { staffAccess: 'deny' });
    const refused = await metadata();
    expect(errorCode(refused)).toBe('GRANT_REQUIRED');
    const activation = await t.admin({ method: 'POST', url: `/admin/v1/access-requests/${emergency.id}/approve`, token: secondAdmin.token });
    expect(errorCode(activation)).toBe('STAFF_ACCESS_DENIED');
    expect(await storedCounts(t, owner.tenantId)).toEqual({ requests: 2, grants: 1 });
    const why = (await tenantEvents(t, owner, 'staff.grant.refused')).map((event) => event.details?.why);
    expect(why).toEqual(['tenant_denies']);
    expect(granted.grant?.id).toBeDefined();
  });

  it('notify: the request is active at once with a grant starting now, and owners and admins are told with how to revoke it', async () => {
    const owner = await buildTenant(t);
    const admin = await buildMember(t, owner, 'admin');
    await setStaffAccess(t, owner, { staffAccess: 'notify' });
    const before = t.clock.now().getTime();
    const request = await asked(t, support, owner.tenantId, { durationMinutes: 90 });
    expect(request).toMatchObject({ status: 'active', decidedBy: { type: 'system', id: 'notify' }, grant: { status: 'active', scope: 'read', reviewRequired: false } });
    expect(new Date(request.grant.startsAt).getTime()).toBeGreaterThanOrEqual(before);
    expect(new Date(request.grant.expiresAt).getTime() - new Date(request.grant.startsAt).getTime()).toBe(90 * 60_000);

    for (const manager of [owner, admin]) {
      const notice = (await mailBodies(t, manager.email)).find((body) => body.includes(request.id));
      expect(notice, `no notice to ${manager.email}`).toBeDefined();
      for (const part of [support.email, REASON, 'SUP-4411', '90 minutes', `/v1/access-grants/${request.grant.id}/revoke`, 'notify']) expect(notice).toContain(part);
    }
    const grants = await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token });
    expect(grants.json().items.map((grant: { id: string }) => grant.id)).toEqual([request.grant.id]);
    // There is nothing left for the tenant to approve.
    expect((await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token: owner.token })).statusCode).toBe(409);
    const approved = await tenantEvents(t, owner, 'staff.access.approved');
    expect(approved[0]).toMatchObject({ actor: { type: 'system', id: 'notify' }, details: { requestId: request.id, grantId: request.grant.id } });
  });

  it('break-glass: pending until a different security-admin approves (own 403, support 403), the tenant mailed twice, reviewRequired until reviewed', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, securityAdmin, owner.tenantId, INCIDENT);
    expect(request).toMatchObject({ status: 'pending', breakGlass: true, justification: 'INCIDENT_RESPONSE', scope: 'read-write' });
    const noticesAt = async () => (await mailBodies(t, owner.email)).filter((body) => body.includes(request.id));
    expect(await noticesAt()).toHaveLength(1);
    expect((await noticesAt())[0]).toContain('break-glass');

    const approve = (staff: TestStaff) => t.admin({ method: 'POST', url: `/admin/v1/access-requests/${request.id}/approve`, token: staff.token });
    const own = await approve(securityAdmin);
    expect(own.statusCode).toBe(403);
    expect(own.json().error.details.reason).toBe('own_request');
    expect((await approve(support)).statusCode).toBe(403);
    // The tenant's approval is skipped, not asked for.
    const byTenant = await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token: owner.token });
    expect(byTenant.statusCode).toBe(409);
    expect(byTenant.json().error.details.reason).toBe('break_glass');
    expect((await storedCounts(t, owner.tenantId)).grants).toBe(0);

    const approved = await approve(secondAdmin);
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'active', decidedBy: { type: 'staff', id: secondAdmin.id }, grant: { reviewRequired: true, breakGlass: true, status: 'active' } });
    expect((await approve(secondAdmin)).statusCode).toBe(409);
    const notices = await noticesAt();
    expect(notices).toHaveLength(2);
    expect(notices[1]).toContain('it is active now');
    expect(notices[1]).toContain(`/v1/access-grants/${approved.json().grant.id}/revoke`);
    expect((await mailBodies(t, securityAdmin.email)).some((body) => body.includes(request.id) && body.includes('second security administrator'))).toBe(true);

    const tenantGrants = await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token });
    expect(tenantGrants.json().items[0]).toMatchObject({ id: approved.json().grant.id, reviewRequired: true });

    const review = (staff: TestStaff, notes = 'Checked the incident timeline; access limited to the corrupted collection.') =>
      t.admin({ method: 'POST', url: `/admin/v1/access-requests/${request.id}/review`, token: staff.token, payload: { notes } });
    expect((await review(securityAdmin)).statusCode).toBe(403);
    expect((await review(support)).statusCode).toBe(403);
    const reviewed = await review(secondAdmin);
    expect(reviewed.statusCode, reviewed.body).toBe(200);
    expect(reviewed.json()).toMatchObject({ reviewedBy: { type: 'staff', id: secondAdmin.id }, grant: { reviewRequired: false } });
    expect((await review(secondAdmin)).json().error.details.reason).toBe('already_reviewed');
    expect((await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token })).json().items[0].reviewRequired).toBe(false);

    const events = await tenantEvents(t, owner, 'staff.access.reviewed');
    expect(events[0]).toMatchObject({ actor: { type: 'staff', id: secondAdmin.id }, details: { requestId: request.id } });
    const approvals = await tenantEvents(t, owner, 'staff.access.approved');
    expect(approvals[0]).toMatchObject({ actor: { type: 'staff', id: secondAdmin.id }, details: { breakGlass: true, requestedBy: securityAdmin.id } });
    const requested = await tenantEvents(t, owner, 'staff.access.requested');
    expect(requested[0]).toMatchObject({ actor: { type: 'staff', id: securityAdmin.id }, details: { breakGlass: true } });
  });

  it('break-glass stays pending in notify mode too, and the tenant may deny it; ordinary requests are not approved on the admin side', async () => {
    const owner = await buildTenant(t);
    await setStaffAccess(t, owner, { staffAccess: 'notify' });
    const request = await asked(t, support, owner.tenantId, { ...INCIDENT, justification: 'SECURITY_INVESTIGATION' });
    expect(request.status).toBe('pending');
    expect(request.grant).toBeUndefined();
    const denied = await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/deny`, token: owner.token });
    expect(denied.statusCode, denied.body).toBe(200);
    expect(denied.json().status).toBe('denied');
    expect((await t.admin({ method: 'POST', url: `/admin/v1/access-requests/${request.id}/approve`, token: securityAdmin.token })).statusCode).toBe(409);

    const other = await buildTenant(t);
    const ordinary = await asked(t, support, other.tenantId);
    const notBreakGlass = await t.admin({ method: 'POST', url: `/admin/v1/access-requests/${ordinary.id}/approve`, token: securityAdmin.token });
    expect(notBreakGlass.statusCode).toBe(409);
    expect(notBreakGlass.json().error.details.reason).toBe('not_break_glass');
  });
});

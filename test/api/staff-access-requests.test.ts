import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';
import { buildStaff, signInStaff, type TestStaff } from '../harness/staff.js';
import { ask, asked, mailBodies, REASON, setStaffAccess, storedCounts, tenantEvents } from './staff-access-fixtures.js';

/**
 * Issue 9 items 4 and 7: access requests and grants in a tenant's default mode
 * (`approval_required`) — validation, approval, denial, expiry, revocation, who may do what, the
 * mails and the security events the tenant sees.
 */
describe.each(DIALECTS)('staff access requests on %s', (dialect) => {
  let t: TestApp;
  let support: TestStaff;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
    support = await buildStaff(t, { role: 'support' });
  });
  afterAll(() => t.close());

  /** Staff sessions idle out after 15 minutes, customers' after an hour: sign in again after moving the clock. */
  async function freshTokens(...people: Array<TestTenant | TestStaff>): Promise<void> {
    for (const person of people) {
      if ('tenantId' in person) person.token = (await signIn(t, person.email, person.password)).token;
      else person.token = await signInStaff(t, person);
    }
  }

  it('keeps staffAccess and staffAccessMaxMinutes in the tenant settings, within bounds, owners and admins only', async () => {
    const owner = await buildTenant(t);
    const settings = await t.request({ method: 'GET', url: '/v1/tenant/settings', token: owner.token });
    expect(settings.json()).toMatchObject({ staffAccess: 'approval_required', staffAccessMaxMinutes: 120 });

    const changed = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { staffAccess: 'notify', staffAccessMaxMinutes: 300 } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ staffAccess: 'notify', staffAccessMaxMinutes: 300, requireMfa: false });
    expect((await t.request({ method: 'GET', url: '/v1/tenant/settings', token: owner.token })).json()).toMatchObject({ staffAccess: 'notify', staffAccessMaxMinutes: 300 });

    for (const payload of [{ staffAccessMaxMinutes: 481 }, { staffAccessMaxMinutes: 0 }, { staffAccess: 'sometimes' }, { staffAccess: null }]) {
      const refused = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload });
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorCode(refused)).toBe('VALIDATION_FAILED');
    }
    const member = await buildMember(t, owner, 'member');
    expect((await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: member.token, payload: { staffAccess: 'deny' } })).statusCode).toBe(403);
    const admin = await buildMember(t, owner, 'admin');
    expect((await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: admin.token, payload: { staffAccess: 'deny' } })).statusCode).toBe(200);

    const events = await tenantEvents(t, owner, 'tenant.settings.changed');
    expect(events.map((event) => event.details?.changes)).toEqual(expect.arrayContaining([{ staffAccess: 'notify', staffAccessMaxMinutes: 300 }, { staffAccess: 'deny' }]));
  });

  it('refuses requests with a bad justification, a reason that is not real words, or a duration over the tenant’s maximum, storing nothing', async () => {
    const owner = await buildTenant(t);
    const refusals: Array<[Record<string, unknown>, string, string?]> = [
      [{ justification: 'BECAUSE_I_SAID_SO' }, 'justification'],
      [{ scope: 'everything' }, 'scope'],
      [{ reason: 'too short a reason' }, 'reason', 'too_short'],
      [{ reason: 'a'.repeat(40) }, 'reason', 'not_meaningful'],
      [{ reason: '!'.repeat(40) }, 'reason', 'not_meaningful'],
      [{ reason: '1234567890 1234567890 1234567890' }, 'reason', 'not_meaningful'],
      [{ reason: ' .,-;:!? '.repeat(5) }, 'reason', 'not_meaningful'],
      [{ reason: 'ab ab ab ab ab ab ab ab ab ab' }, 'reason', 'not_meaningful'],
      [{ reason: 'asdfasdfasdfasdfasdfasdfasdf' }, 'reason', 'not_meaningful'],
      [{ reason: 'Customer asked\u0007 us to look at the export job' }, 'reason', 'control_characters'],
      [{ durationMinutes: 121 }, 'durationMinutes', 'over_tenant_maximum'],
      [{ durationMinutes: 481 }, 'durationMinutes'],
      [{ durationMinutes: 0 }, 'durationMinutes'],
      [{ breakGlass: true, justification: 'CUSTOMER_INITIATED_SUPPORT' }, 'breakGlass', 'justification_not_allowed'],
      [{ breakGlass: true, justification: 'LEGAL_REQUIREMENT' }, 'breakGlass', 'justification_not_allowed'],
      [{ extra: 'field' }, 'extra', 'unknown_field'],
    ];
    for (const [overrides, field, reason] of refusals) {
      const response = await ask(t, support, owner.tenantId, overrides);
      expect(response.statusCode, `${JSON.stringify(overrides)} → ${response.body}`).toBe(400);
      expect(errorCode(response)).toBe('VALIDATION_FAILED');
      expect(response.json().error.details.field).toBe(field);
      if (reason) expect(response.json().error.details.reason).toBe(reason);
    }
    const over = await ask(t, support, owner.tenantId, { durationMinutes: 121 });
    expect(over.json().error.details.maximum).toBe(120);

    // The tenant's own maximum counts, and it can only be raised up to 480.
    await setStaffAccess(t, owner, { staffAccessMaxMinutes: 30 });
    const overTenant = await ask(t, support, owner.tenantId, { durationMinutes: 31 });
    expect(overTenant.statusCode).toBe(400);
    expect(overTenant.json().error.details).toMatchObject({ field: 'durationMinutes', reason: 'over_tenant_maximum', maximum: 30 });
    expect(await storedCounts(t, owner.tenantId)).toEqual({ requests: 0, grants: 0 });

    // An unknown tenant is plainly 404 to staff (tenant ids come from tickets; they are not secret from staff).
    const unknown = await ask(t, support, '01930000-0000-7000-8000-000000000000');
    expect(unknown.statusCode).toBe(404);
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    // A well-formed reason in another script passes the words check.
    expect((await ask(t, support, owner.tenantId, { reason: 'Клиент сообщает, что экспорт данных не работает', durationMinutes: 30 })).statusCode).toBe(201);
  });

  it('approval_required: the request waits, owners and admins are e-mailed, an owner approves, the staff member is told (SECURITY-CRITERIA 8.2.1)', async () => {
    const owner = await buildTenant(t);
    const admin = await buildMember(t, owner, 'admin');
    const member = await buildMember(t, owner, 'member');
    const request = await asked(t, support, owner.tenantId, { durationMinutes: 45 });
    expect(request).toMatchObject({
      tenantId: owner.tenantId,
      staff: { id: support.id, email: support.email },
      scope: 'read',
      justification: 'CUSTOMER_INITIATED_SUPPORT',
      reason: REASON,
      ticket: 'SUP-4411',
      durationMinutes: 45,
      breakGlass: false,
      status: 'pending',
    });
    expect(request.grant).toBeUndefined();

    for (const manager of [owner, admin]) {
      const [mail] = await mailBodies(t, manager.email).then((bodies) => bodies.filter((body) => body.includes(request.id)));
      expect(mail, `no notice to ${manager.email}`).toBeDefined();
      for (const part of [support.email, 'read', 'CUSTOMER_INITIATED_SUPPORT', REASON, 'SUP-4411', '45 minutes', `/v1/access-requests/${request.id}/approve`, t.app.config.publicUrl]) {
        expect(mail).toContain(part);
      }
      expect(mail).not.toMatch(/cfs?t?_[A-Za-z0-9_-]{20,}/);
    }
    expect((await mailBodies(t, member.email)).some((body) => body.includes(request.id))).toBe(false);

    const listed = await t.request({ method: 'GET', url: '/v1/access-requests?status=pending', token: owner.token });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items).toEqual([request]);
    expect(listed.json().nextCursor).toBeNull();

    // Only the tenant's owners and admins decide; another tenant's owner does not even see it.
    const apiKey = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'robot', scope: 'read-write' } });
    const other = await buildTenant(t);
    const approve = (token: string) => t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token });
    expect((await approve(member.token)).statusCode).toBe(403);
    expect((await approve(apiKey.json().key)).statusCode).toBe(403);
    const foreign = await approve(other.token);
    expect(foreign.statusCode).toBe(404);
    expect(errorCode(foreign)).toBe('NOT_FOUND');
    expect((await t.request({ method: 'GET', url: '/v1/access-requests', token: other.token })).json().items).toEqual([]);
    expect((await storedCounts(t, owner.tenantId)).grants).toBe(0);

    const before = t.clock.now().getTime();
    const approved = await approve(owner.token);
    expect(approved.statusCode, approved.body).toBe(200);
    const body = approved.json();
    expect(body).toMatchObject({ status: 'active', decidedBy: { type: 'member', id: owner.userId } });
    expect(new Date(body.grant.startsAt).getTime()).toBeGreaterThanOrEqual(before);
    expect(new Date(body.grant.expiresAt).getTime() - new Date(body.grant.startsAt).getTime()).toBe(45 * 60_000);
    expect(body.grant).toMatchObject({ requestId: request.id, staff: { id: support.id, email: support.email }, scope: 'read', status: 'active', reviewRequired: false, breakGlass: false });

    const again = await approve(admin.token);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details.reason).toBe('not_pending');

    const staffMail = (await mailBodies(t, support.email)).filter((text) => text.includes(request.id));
    expect(staffMail.some((text) => text.includes('was approved'))).toBe(true);
    expect(staffMail.join('\n')).not.toContain(REASON);

    const grants = await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token });
    expect(grants.json().items).toEqual([body.grant]);
    const staffGrants = await t.admin({ method: 'GET', url: '/admin/v1/access-grants?active=true', token: support.token });
    expect(staffGrants.json().items.map((grant: { id: string }) => grant.id)).toContain(body.grant.id);

    const events = await tenantEvents(t, owner, 'staff.access.approved');
    expect(events[0]).toMatchObject({ outcome: 'success', actor: { type: 'member', id: owner.userId }, details: { requestId: request.id, grantId: body.grant.id } });
    const requested = await tenantEvents(t, owner, 'staff.access.requested');
    expect(requested[0]).toMatchObject({ actor: { type: 'staff', id: support.id }, details: { requestId: request.id, scope: 'read', mode: 'approval_required' } });
  });

  it('denies with a reason the staff member can read; a decided request cannot be decided again', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, support, owner.tenantId);
    const denied = await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/deny`, token: owner.token, payload: { reason: 'Please ask us on the ticket first.' } });
    expect(denied.statusCode, denied.body).toBe(200);
    expect(denied.json()).toMatchObject({ status: 'denied', decidedBy: { type: 'member', id: owner.userId }, decisionReason: 'Please ask us on the ticket first.' });
    expect(denied.json().grant).toBeUndefined();
    expect((await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token: owner.token })).statusCode).toBe(409);
    expect((await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/deny`, token: owner.token })).statusCode).toBe(409);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/access-requests/${request.id}`, token: support.token })).json()).toMatchObject({ status: 'denied', decisionReason: 'Please ask us on the ticket first.' });
    expect((await mailBodies(t, support.email)).some((text) => text.includes(request.id) && text.includes('was denied'))).toBe(true);
    expect((await t.request({ method: 'GET', url: '/v1/access-requests?status=denied', token: owner.token })).json().items.map((r: { id: string }) => r.id)).toEqual([request.id]);
    expect((await tenantEvents(t, owner, 'staff.access.denied'))[0]).toMatchObject({ actor: { type: 'member', id: owner.userId }, details: { requestId: request.id } });
    // Once decided, the staff member may ask again.
    expect((await ask(t, support, owner.tenantId)).statusCode).toBe(201);
  });

  it('revokes a live grant; a revoked grant cannot be revoked again and another tenant’s answers 404', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, support, owner.tenantId);
    const grant = (await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token: owner.token })).json().grant;
    const other = await buildTenant(t);
    expect((await t.request({ method: 'POST', url: `/v1/access-grants/${grant.id}/revoke`, token: other.token })).statusCode).toBe(404);

    const revoked = await t.request({ method: 'POST', url: `/v1/access-grants/${grant.id}/revoke`, token: owner.token });
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.json()).toMatchObject({ id: grant.id, status: 'revoked', revokedBy: { type: 'member', id: owner.userId } });
    expect(typeof revoked.json().revokedAt).toBe('string');
    const again = await t.request({ method: 'POST', url: `/v1/access-grants/${grant.id}/revoke`, token: owner.token });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details.reason).toBe('grant_not_active');

    expect((await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token })).json().items).toEqual([]);
    expect((await t.request({ method: 'GET', url: '/v1/access-requests?status=revoked', token: owner.token })).json().items.map((r: { id: string }) => r.id)).toEqual([request.id]);
    expect((await t.request({ method: 'GET', url: '/v1/access-requests?status=active', token: owner.token })).json().items).toEqual([]);
    expect((await mailBodies(t, support.email)).some((text) => text.includes(request.id) && text.includes('revoked'))).toBe(true);
    expect((await tenantEvents(t, owner, 'staff.access.revoked'))[0]).toMatchObject({ actor: { type: 'member', id: owner.userId }, details: { grantId: grant.id } });
  });

  it('expires a grant when its time is up (the clock moved), and lets an undecided request lapse after 72 hours', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, support, owner.tenantId, { durationMinutes: 30 });
    const grant = (await t.request({ method: 'POST', url: `/v1/access-requests/${request.id}/approve`, token: owner.token })).json().grant;
    t.clock.advance(31 * 60);
    await freshTokens(owner, support);

    const expired = await t.request({ method: 'GET', url: '/v1/access-requests?status=expired', token: owner.token });
    expect(expired.json().items.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([[request.id, 'expired']]);
    expect(expired.json().items[0].grant.status).toBe('expired');
    expect((await t.request({ method: 'GET', url: '/v1/access-requests?status=active', token: owner.token })).json().items).toEqual([]);
    expect((await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token })).json().items).toEqual([]);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/access-grants?active=true', token: support.token })).json().items.map((g: { id: string }) => g.id)).not.toContain(grant.id);
    expect((await t.request({ method: 'POST', url: `/v1/access-grants/${grant.id}/revoke`, token: owner.token })).statusCode).toBe(409);

    const waiting = await asked(t, support, owner.tenantId);
    t.clock.advance(72 * 3600 + 60);
    await freshTokens(owner, support);
    const lapsed = await t.admin({ method: 'GET', url: `/admin/v1/access-requests/${waiting.id}`, token: support.token });
    expect(lapsed.json().status).toBe('expired');
    const late = await t.request({ method: 'POST', url: `/v1/access-requests/${waiting.id}/approve`, token: owner.token });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.details.reason).toBe('not_pending');
    expect((await ask(t, support, owner.tenantId)).statusCode).toBe(201);
  });

  it('bounds open requests: one pending or active per tenant, and 20 pending per staff member (409 LIMIT_REACHED)', async () => {
    const asker = await buildStaff(t, { role: 'support' });
    const first = await buildTenant(t);
    await asked(t, asker, first.tenantId);
    const twice = await ask(t, asker, first.tenantId);
    expect(twice.statusCode).toBe(409);
    expect(errorCode(twice)).toBe('LIMIT_REACHED');
    expect(twice.json().error.details).toMatchObject({ resource: 'open_access_requests_per_tenant', limit: 1 });
    // Another staff member is not held back by it.
    expect((await ask(t, support, first.tenantId)).statusCode).toBe(201);

    for (let i = 1; i < 20; i++) await asked(t, asker, (await buildTenant(t)).tenantId);
    const tooMany = await ask(t, asker, (await buildTenant(t)).tenantId);
    expect(tooMany.statusCode).toBe(409);
    expect(tooMany.json().error.details).toMatchObject({ resource: 'pending_access_requests', limit: 20 });
    const page = await t.admin({ method: 'GET', url: '/admin/v1/access-requests?status=pending&limit=15', token: asker.token });
    expect(page.json().items).toHaveLength(15);
    const rest = await t.admin({ method: 'GET', url: `/admin/v1/access-requests?status=pending&limit=15&cursor=${page.json().nextCursor}`, token: asker.token });
    expect(rest.json().items).toHaveLength(5);
    expect(rest.json().nextCursor).toBeNull();
  });

  it('shows a support only their own requests, and a security-admin everyone’s', async () => {
    const owner = await buildTenant(t);
    const mine = await buildStaff(t, { role: 'support' });
    const theirs = await buildStaff(t, { role: 'support' });
    const securityAdmin = await buildStaff(t, { role: 'security-admin' });
    const request = await asked(t, mine, owner.tenantId);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/access-requests/${request.id}`, token: mine.token })).statusCode).toBe(200);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/access-requests/${request.id}`, token: theirs.token })).statusCode).toBe(404);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/access-requests?tenantId=${owner.tenantId}`, token: theirs.token })).json().items).toEqual([]);
    expect((await t.admin({ method: 'GET', url: `/admin/v1/access-requests/${request.id}`, token: securityAdmin.token })).json()).toMatchObject({ id: request.id, reason: REASON });
    const all = await t.admin({ method: 'GET', url: `/admin/v1/access-requests?tenantId=${owner.tenantId}`, token: securityAdmin.token });
    expect(all.json().items.map((r: { id: string }) => r.id)).toEqual([request.id]);
    // Customer tokens are nobody on the admin listener.
    expect((await t.admin({ method: 'GET', url: '/admin/v1/access-requests', token: owner.token })).statusCode).toBe(401);
  });

  it('keeps what staff and tenants write encrypted at rest under the tenant’s key', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, support, owner.tenantId, { ticket: 'SUP-SECRET-TICKET-77' });
    const row = await t.app.services.db.selectFrom('access_requests').selectAll().where('id', '=', request.id).executeTakeFirstOrThrow();
    expect(row.reason_enc).not.toContain('nightly');
    expect(row.ticket_enc).not.toContain('SECRET');
    expect(row.reason_enc.startsWith('c1.')).toBe(true);
  });
});

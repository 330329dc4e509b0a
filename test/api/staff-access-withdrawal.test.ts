import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { buildStaff, type TestStaff } from '../harness/staff.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { ask, asked, setStaffAccess, tenantEvents } from './staff-access-fixtures.js';

/**
 * How access already given ends: a tenant choosing `deny` withdraws it for good, a grant cannot be
 * used by a write whose body arrives after the revoke, an approval never outlasts the tenant's
 * current maximum, a disabled staff member's token leaves a trace, and what staff write cannot
 * pass for Confide's own text in the tenant's mail.
 */
describe.each(DIALECTS)('staff access ending on %s', (dialect) => {
  let t: TestApp;
  let support: TestStaff;
  beforeAll(async () => {
    t = await createTestApp(dialect, { smtp: true });
    support = await buildStaff(t, { role: 'support' });
  });
  afterAll(() => t.close());

  const approve = (owner: { token: string }, id: string) => t.request({ method: 'POST', url: `/v1/access-requests/${id}/approve`, token: owner.token });

  it('choosing deny revokes every live grant and denies every pending request for good: switching back brings nothing back', async () => {
    const owner = await buildTenant(t);
    const record = await buildRecord(t, owner, 'patients', { name: 'kept-private' });
    const other = await buildStaff(t, { role: 'support' });
    const granted = await asked(t, support, owner.tenantId, { scope: 'read-write', durationMinutes: 120 });
    expect((await approve(owner, granted.id)).statusCode).toBe(200);
    const waiting = await asked(t, other, owner.tenantId);
    const read = () => t.admin({ method: 'GET', url: `/admin/v1/tenants/${owner.tenantId}/collections/patients/records/${record.id}`, token: support.token });
    expect((await read()).statusCode).toBe(200);

    await setStaffAccess(t, owner, { staffAccess: 'deny' });
    expect(errorCode(await read())).toBe('GRANT_REQUIRED');
    const grants = await t.request({ method: 'GET', url: '/v1/access-grants', token: owner.token });
    expect(grants.json().items).toEqual([expect.objectContaining({ requestId: granted.id, status: 'revoked', revokedBy: { type: 'member', id: owner.userId } })]);
    const requests = await t.request({ method: 'GET', url: '/v1/access-requests?status=denied', token: owner.token });
    expect(requests.json().items.map((item: { id: string }) => item.id)).toEqual([waiting.id]);
    expect(errorCode(await approve(owner, waiting.id))).toBe('STAFF_ACCESS_DENIED');

    t.clock.advance(600);
    await setStaffAccess(t, owner, { staffAccess: 'approval_required' });
    const after = await read();
    expect(errorCode(after)).toBe('GRANT_REQUIRED');
    expect(after.body).not.toContain('kept-private');
    expect((await t.request({ method: 'GET', url: '/v1/access-grants?active=true', token: owner.token })).json().items).toEqual([]);
    const reasons = [...(await tenantEvents(t, owner, 'staff.access.revoked')), ...(await tenantEvents(t, owner, 'staff.access.denied'))].map((e) => e.details?.reason);
    expect(reasons).toEqual(['tenant_chose_deny', 'tenant_chose_deny']);
  });

  it('ASVS 8.3.1: a change whose body arrives after the grant is revoked is refused, and the record is unchanged', async () => {
    const owner = await buildTenant(t);
    const record = await buildRecord(t, owner, 'patients', { name: 'ORIGINAL' });
    const request = await asked(t, support, owner.tenantId, { scope: 'read-write' });
    const grantId = (await approve(owner, request.id)).json().grant.id as string;
    await t.app.adminServer.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.adminServer.server.address() as { port: number };
    const body = JSON.stringify({ name: 'WRITTEN AFTER REVOKE' });
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write(
      `PUT /admin/v1/tenants/${owner.tenantId}/collections/patients/records/${record.id} HTTP/1.1\r\nHost: confide\r\n` +
        `Authorization: Bearer ${support.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the headers passed the check; the body has not come yet
    expect((await t.request({ method: 'POST', url: `/v1/access-grants/${grantId}/revoke`, token: owner.token })).statusCode).toBe(200);
    socket.write(body);
    await expect.poll(() => answer, { timeout: 5000 }).toMatch(/\r\n\r\n.*\}/s);
    socket.destroy();
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(answer).toContain('GRANT_REQUIRED');
    const now = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(now.json().data).toEqual({ name: 'ORIGINAL' });
  });

  it('an approval never outlasts the tenant’s maximum as it is when approving', async () => {
    const owner = await buildTenant(t);
    const request = await asked(t, support, owner.tenantId, { durationMinutes: 120 });
    await setStaffAccess(t, owner, { staffAccessMaxMinutes: 15 });
    const { grant } = (await approve(owner, request.id)).json();
    expect((Date.parse(grant.expiresAt) - Date.parse(grant.startsAt)) / 60_000).toBe(15);
  });

  it('sets apart, line by line, what a staff member wrote in the tenant’s notice, so it cannot forge Confide’s own lines', async () => {
    const owner = await buildTenant(t);
    const forged = 'Routine check of the export settings requested\nTo end this access now, POST https://evil.example/revoke';
    // A ticket is one line: control characters are refused there outright.
    expect(errorCode(await ask(t, support, owner.tenantId, { ticket: 'SUP-7\nForged line' }))).toBe('VALIDATION_FAILED');
    const response = await ask(t, support, owner.tenantId, { reason: forged });
    expect(response.statusCode, response.body).toBe(201);
    const mails = (await t.mailTo(owner.email)).map(bodyOf).filter((body) => body.includes('asks for access'));
    expect(mails).toHaveLength(1);
    const lines = mails[0]!.split(/\r?\n/);
    expect(lines).toContain('> To end this access now, POST https://evil.example/revoke');
    expect(lines.filter((line) => line.includes('evil.example')).every((line) => line.startsWith('> '))).toBe(true);
  });

  it('a disabled staff member’s token is refused (401: disabling ended the session) and the attempt is recorded', async () => {
    const owner = await buildTenant(t);
    const leaving = await buildStaff(t, { role: 'support' });
    expect(runCli(['staff', 'disable', '--email', leaving.email], t.env).status).toBe(0);
    const response = await t.admin({ method: 'GET', url: `/admin/v1/tenants/${owner.tenantId}/collections`, token: leaving.token });
    expect(response.statusCode).toBe(401);
    await t.app.services.securityEvents.flush();
    const events = await t.app.services.db.selectFrom('security_events').select(['type', 'outcome']).where('actor_type', '=', 'staff').where('actor_id', '=', leaving.id).execute();
    expect(events).toContainEqual({ type: 'staff.session.refused', outcome: 'refused' });
  });
});

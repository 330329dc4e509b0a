import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { insertGrantFixture } from '../harness/grant-fixture.js';

describe.each(DIALECTS)('staff download a record’s file by grant on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  /** A tenant with a record carrying `scan.pdf`, and a signed-in staff member. */
  async function setUp() {
    const owner = await buildTenant(t);
    const staff = await buildStaff(t);
    const record = await buildRecord(t, owner);
    const bytes = Buffer.concat([Buffer.from('%PDF-STAFF-MARKER '), randomBytes(150_000)]);
    const put = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/scan.pdf`, token: owner.token, payload: bytes, headers: { 'content-type': 'application/pdf' } });
    expect(put.statusCode, put.body).toBe(201);
    const url = `/admin/v1/tenants/${owner.tenantId}/collections/patients/records/${record.id}/files/scan.pdf`;
    return { owner, staff, record, bytes, url };
  }

  const fileEntries = async (t: TestApp, token: string) =>
    ((await t.request({ method: 'GET', url: '/v1/access-log?limit=500', token })).json().items as any[]).filter((entry) => entry.resource.type === 'file');

  it('a read grant downloads the file as uploaded; the log names the staff member and grant, and a staff.grant.used event is stored', async () => {
    const { owner, staff, record, bytes, url } = await setUp();
    const { grantId, justification } = await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read' });
    const fetched = await t.admin({ method: 'GET', url, token: staff.token });
    expect(fetched.statusCode, fetched.body).toBe(200);
    expect(fetched.headers['content-type']).toBe('application/pdf');
    expect(fetched.headers['content-disposition']).toBe('attachment');
    expect(fetched.rawPayload.equals(bytes)).toBe(true);

    const entries = await fileEntries(t, owner.token);
    expect(entries.map((entry) => entry.action)).toEqual(['upload', 'download']);
    expect(entries[1]).toMatchObject({ actor: { type: 'staff', id: staff.id }, grantId, justification, resource: { type: 'file', collection: 'patients', id: record.id }, details: { name: 'scan.pdf' } });
    expect((await t.request({ method: 'GET', url: '/v1/access-log/verify', token: owner.token })).json().ok).toBe(true);
    await t.app.services.securityEvents.flush();
    const used = await t.request({ method: 'GET', url: '/v1/security-events?type=staff.grant.used', token: owner.token });
    expect(used.json().items.map((event: any) => event.details)).toContainEqual(expect.objectContaining({ action: 'download', resource: 'file', collection: 'patients', id: record.id, grantId }));
  });

  it('a metadata grant, no grant, or another tenant’s grant is 403 GRANT_REQUIRED with no file bytes and no log entry', async () => {
    const { owner, staff, url } = await setUp();
    const none = await t.admin({ method: 'GET', url, token: staff.token });
    expect(none.statusCode).toBe(403);
    expect(errorCode(none)).toBe('GRANT_REQUIRED');
    const other = await buildTenant(t);
    await insertGrantFixture(t, { tenantId: other.tenantId, staffId: staff.id, scope: 'read' });
    expect((await t.admin({ method: 'GET', url, token: staff.token })).statusCode).toBe(403);
    await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'metadata' });
    const metadata = await t.admin({ method: 'GET', url, token: staff.token });
    expect(metadata.statusCode).toBe(403);
    expect(metadata.json().error).toMatchObject({ code: 'GRANT_REQUIRED', details: { tenantId: owner.tenantId, scope: 'read' } });
    expect(metadata.body).not.toContain('STAFF-MARKER');
    expect((await fileEntries(t, owner.token)).map((entry) => entry.action)).toEqual(['upload']);
    // A customer token is nobody on the admin listener.
    expect((await t.admin({ method: 'GET', url, token: owner.token })).statusCode).toBe(401);
  });

  it('fails closed: when the access log cannot be written, 503 AUDIT_UNAVAILABLE and not a byte of the file', async () => {
    const { owner, staff, url } = await setUp();
    await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read' });
    const db = t.app.services.db;
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER staff_file_audit_fault BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END`.execute(db);
    } else {
      await sql`CREATE FUNCTION staff_file_audit_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected audit fault'; END $$ LANGUAGE plpgsql`.execute(db);
      await sql`CREATE TRIGGER staff_file_audit_fault BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION staff_file_audit_fault()`.execute(db);
    }
    try {
      const refused = await t.admin({ method: 'GET', url, token: staff.token });
      expect(refused.statusCode).toBe(503);
      expect(errorCode(refused)).toBe('AUDIT_UNAVAILABLE');
      expect(refused.body).not.toContain('STAFF-MARKER');
    } finally {
      if (dialect === 'sqlite') await sql`DROP TRIGGER staff_file_audit_fault`.execute(db);
      else {
        await sql`DROP TRIGGER staff_file_audit_fault ON access_log`.execute(db);
        await sql`DROP FUNCTION staff_file_audit_fault()`.execute(db);
      }
    }
  });
});

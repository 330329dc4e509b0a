import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, type TestTenant } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { insertGrantFixture, revokeGrantFixture } from '../harness/grant-fixture.js';
import { runCli } from '../harness/run-cli.js';
import { listStaffEvents, type StoredStaffEvent } from '../../src/security-events/security-event-store.js';
import { GrantCheck } from '../../src/staff-access/grant-check.js';
import type { StaffPrincipal } from '../../src/core/principal.js';
import { newId } from '../../src/lib/ids.js';

/** Planted in every record: no refusal may carry a byte of it. */
const MARKER = `marker-${randomBytes(8).toString('hex')}`;

type Scope = 'metadata' | 'read' | 'read-write';
interface DataRoute {
  name: string;
  method: 'GET' | 'PUT' | 'DELETE';
  url: string;
  payload?: object;
  /** The narrowest grant scope the route needs. */
  scope: Scope;
}

/** Every staff data route, for one tenant and one of its records. */
function dataRoutes(tenantId: string, recordId: string): DataRoute[] {
  const base = `/admin/v1/tenants/${tenantId}/collections`;
  return [
    { name: 'metadata', method: 'GET', url: base, scope: 'metadata' },
    { name: 'list', method: 'GET', url: `${base}/patients/records`, scope: 'read' },
    { name: 'read', method: 'GET', url: `${base}/patients/records/${recordId}`, scope: 'read' },
    { name: 'update', method: 'PUT', url: `${base}/patients/records/${recordId}`, payload: { name: 'overwritten by staff' }, scope: 'read-write' },
    { name: 'delete', method: 'DELETE', url: `${base}/patients/records/${recordId}`, scope: 'read-write' },
  ];
}

const ROUTE_PATTERNS: Record<string, string> = {
  metadata: '/admin/v1/tenants/:tenantId/collections',
  list: '/admin/v1/tenants/:tenantId/collections/:collection/records',
  read: '/admin/v1/tenants/:tenantId/collections/:collection/records/:id',
  update: '/admin/v1/tenants/:tenantId/collections/:collection/records/:id',
  delete: '/admin/v1/tenants/:tenantId/collections/:collection/records/:id',
};

describe.each(DIALECTS)('staff data access by grant on %s', (dialect) => {
  let t: TestApp;
  let tenantA: TestTenant;
  let tenantB: TestTenant;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    [tenantA, tenantB] = [await buildTenant(t), await buildTenant(t)];
  });
  afterAll(() => t.close());

  /** A fresh record of `tenant` holding the marker, so each case starts from known data. */
  const plantRecord = (tenant: TestTenant) => buildRecord(t, tenant, 'patients', { name: MARKER, note: `${MARKER} private note` });

  const call = (route: DataRoute, token: string) =>
    t.admin({ method: route.method, url: route.url, token, ...(route.payload ? { payload: route.payload } : {}) });

  async function expectRefused(response: LightMyRequestResponse, tenantId: string, scope: Scope): Promise<void> {
    expect(response.statusCode, response.body).toBe(403);
    expect(errorCode(response)).toBe('GRANT_REQUIRED');
    expect(response.json().error.details).toEqual({ tenantId, scope });
    expect(response.body).not.toContain(MARKER);
  }

  async function eventsOf(staffId: string, type: string): Promise<StoredStaffEvent[]> {
    await t.app.services.securityEvents.flush();
    const page = await listStaffEvents(t.app.services.db, t.app.services.keyRing.systemCipher(), {
      limit: 500,
      staffId,
      maxBytes: 4 * 1024 * 1024,
      longestCursor: 'x'.repeat(64),
    });
    return page.items.filter((event) => event.type === type);
  }

  /** Every data route answers 403 GRANT_REQUIRED, without data, and each refusal is a security event saying why. */
  async function expectAllRefused(staff: { id: string; token: string }, tenant: TestTenant, recordId: string, why: string, allowed: string[] = []) {
    const before = (await eventsOf(staff.id, 'staff.grant.refused')).length;
    const loggedBefore = await staffLogEntries(tenant, staff.id);
    const refused = dataRoutes(tenant.tenantId, recordId).filter((route) => !allowed.includes(route.name));
    for (const route of refused) await expectRefused(await call(route, staff.token), tenant.tenantId, route.scope);
    const events = await eventsOf(staff.id, 'staff.grant.refused');
    expect(events.length).toBe(before + refused.length);
    const key = (event: { details?: Record<string, unknown> }) => `${String(event.details?.method)} ${String(event.details?.route)}`;
    const newest = events.slice(0, refused.length).sort((x, y) => key(x).localeCompare(key(y)));
    const expected = refused
      .map((route) => ({
        tenantId: tenant.tenantId,
        actor: { type: 'staff', id: staff.id },
        outcome: 'refused',
        details: { method: route.method, route: ROUTE_PATTERNS[route.name], scope: route.scope, why },
      }))
      .sort((x, y) => key(x).localeCompare(key(y)));
    expect(newest.map((event) => ({ tenantId: event.tenantId, actor: event.actor, outcome: event.outcome, details: event.details }))).toEqual(expected);
    // Nothing was changed or read: the record is as planted, and the tenant's log names no staff access.
    const record = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${recordId}`, token: tenant.token });
    expect(record.statusCode).toBe(200);
    expect(record.json().data.name).toBe(MARKER);
    expect(await staffLogEntries(tenant, staff.id)).toBe(loggedBefore);
  }

  /** How many entries of the tenant's access log name this staff member. */
  async function staffLogEntries(tenant: TestTenant, staffId: string): Promise<number> {
    const log = await t.request({ method: 'GET', url: '/v1/access-log?actorType=staff&limit=500', token: tenant.token });
    expect(log.statusCode).toBe(200);
    return log.json().items.filter((entry: { actor: { id: string } }) => entry.actor.id === staffId).length;
  }

  it('without any request, every data route answers 403 GRANT_REQUIRED with no customer bytes, and a refusal event (ASVS 8.2.1, 16.3.2)', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await expectAllRefused(staff, tenantA, record.id, 'none');
    const log = await t.request({ method: 'GET', url: '/v1/access-log?actorType=staff&limit=500', token: tenantA.token });
    expect(log.json().items.filter((entry: { actor: { id: string } }) => entry.actor.id === staff.id)).toEqual([]);
  });

  it('a tenant id that is no tenant id is 400; an unknown tenant is refused like any tenant without a grant (no existence oracle)', async () => {
    const staff = await buildStaff(t);
    const malformed = await t.admin({ method: 'GET', url: '/admin/v1/tenants/not-a-tenant/collections', token: staff.token });
    expect(malformed.statusCode).toBe(400);
    expect(errorCode(malformed)).toBe('VALIDATION_FAILED');
    const unknown = newId();
    await expectRefused(await t.admin({ method: 'GET', url: `/admin/v1/tenants/${unknown}/collections`, token: staff.token }), unknown, 'metadata');
  });

  it('a pending request is no grant', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write', status: 'pending' });
    await expectAllRefused(staff, tenantA, record.id, 'pending');
  });

  it('a denied request is no grant', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write', status: 'denied' });
    await expectAllRefused(staff, tenantA, record.id, 'denied');
  });

  it('a grant stops working once the clock passes its expiry, checked on the server on every request', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write', minutes: 5 });
    const routes = dataRoutes(tenantA.tenantId, record.id);
    expect((await call(routes[2]!, staff.token)).statusCode).toBe(200);
    t.clock.advance(5 * 60 + 1);
    await expectAllRefused(staff, tenantA, record.id, 'expired');
  });

  it('a grant revoked mid-session refuses the very next request', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    const { grantId } = await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write' });
    const read = dataRoutes(tenantA.tenantId, record.id)[2]!;
    const first = await call(read, staff.token);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.body).toContain(MARKER);
    await revokeGrantFixture(t, grantId!);
    await expectAllRefused(staff, tenantA, record.id, 'revoked');
  });

  it('a grant for tenant A opens nothing of tenant B (ASVS 8.4.1)', async () => {
    const staff = await buildStaff(t);
    await plantRecord(tenantA);
    const recordOfB = await plantRecord(tenantB);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write' });
    await expectAllRefused(staff, tenantB, recordOfB.id, 'none');
    // …while it does open A.
    expect((await call(dataRoutes(tenantA.tenantId, recordOfB.id)[0]!, staff.token)).statusCode).toBe(200);
  });

  it('a metadata grant shows counts and bytes but reads and changes no record; a read grant changes none', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'metadata' });
    const metadata = await call(dataRoutes(tenantA.tenantId, record.id)[0]!, staff.token);
    expect(metadata.statusCode, metadata.body).toBe(200);
    expect(metadata.body).not.toContain(MARKER);
    await expectAllRefused(staff, tenantA, record.id, 'scope', ['metadata']);

    const reader = await buildStaff(t);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: reader.id, scope: 'read' });
    for (const route of dataRoutes(tenantA.tenantId, record.id).slice(0, 3)) expect((await call(route, reader.token)).statusCode, route.name).toBe(200);
    await expectAllRefused(reader, tenantA, record.id, 'scope', ['metadata', 'list', 'read']);
  });

  it('the widest of several live grants counts', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'metadata' });
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read' });
    expect((await call(dataRoutes(tenantA.tenantId, record.id)[2]!, staff.token)).statusCode).toBe(200);
  });

  it('disabling a staff member ends their session and grants at once: 401 on every data route, grant revoked, events stored', async () => {
    const staff = await buildStaff(t);
    const record = await plantRecord(tenantA);
    const { grantId } = await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write' });
    expect((await call(dataRoutes(tenantA.tenantId, record.id)[2]!, staff.token)).statusCode).toBe(200);
    const disabled = runCli(['staff', 'disable', '--email', staff.email], t.env);
    expect(disabled.status, disabled.stderr).toBe(0);
    // The contract: disabling ends the sessions, so the token names no one any more (401, not 403).
    for (const route of dataRoutes(tenantA.tenantId, record.id)) {
      const response = await call(route, staff.token);
      expect(response.statusCode, route.name).toBe(401);
      expect(response.body).not.toContain(MARKER);
    }
    const grant = await t.app.services.db.selectFrom('access_grants').select('revoked_at').where('id', '=', grantId!).executeTakeFirstOrThrow();
    expect(grant.revoked_at).not.toBeNull();
    await t.app.services.securityEvents.flush();
    const stored = await t.app.services.db.selectFrom('security_events').select(['type', 'tenant_id']).where('type', 'in', ['staff.disabled', 'staff.access.revoked']).execute();
    expect(stored).toContainEqual({ type: 'staff.access.revoked', tenant_id: tenantA.tenantId });
    expect(stored.map((row) => row.type)).toContain('staff.disabled');

    // Defence in depth: even a live, unrevoked grant of a disabled staff member opens nothing.
    await insertGrantFixture(t, { tenantId: tenantA.tenantId, staffId: staff.id, scope: 'read-write' });
    const principal: StaffPrincipal = { kind: 'staff', staffId: staff.id, role: 'support', sessionId: newId(), policyAcknowledged: true };
    const check = new GrantCheck(t.app.services).grantedPrincipal(principal, { tenantId: tenantA.tenantId, action: 'records.read', method: 'GET', route: 'test', ip: '127.0.0.1' });
    await expect(check).rejects.toMatchObject({ code: 'GRANT_REQUIRED' });
    expect((await eventsOf(staff.id, 'staff.grant.refused'))[0]!.details).toMatchObject({ why: 'disabled' });
  });

  it('under a read-write grant every route works as on the public API, and the access log names each staff access once, with grant and justification', async () => {
    const owner = await buildTenant(t);
    const staff = await buildStaff(t);
    const first = await buildRecord(t, owner, 'patients', { name: MARKER });
    const second = await buildRecord(t, owner, 'patients', { name: `${MARKER}-2` });
    await buildRecord(t, owner, 'visits', { at: 'monday' });
    const { grantId, justification } = await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read-write', justification: 'INCIDENT_RESPONSE' });
    const base = `/admin/v1/tenants/${owner.tenantId}/collections`;

    const metadata = await t.admin({ method: 'GET', url: base, token: staff.token });
    expect(metadata.statusCode, metadata.body).toBe(200);
    const stored = await t.app.services.db.selectFrom('records').select(['collection', 'data_enc']).where('tenant_id', '=', owner.tenantId).execute();
    const bytesOf = (collection: string) => stored.filter((row) => row.collection === collection).reduce((sum, row) => sum + Buffer.byteLength(row.data_enc), 0);
    expect(metadata.json()).toEqual({ items: [{ name: 'patients', records: 2, bytes: bytesOf('patients') }, { name: 'visits', records: 1, bytes: bytesOf('visits') }], nextCursor: null });
    expect(metadata.body).not.toContain(MARKER);
    // Pages of collections too (a tenant may have many): a page of one, then the rest from its cursor.
    const names1 = await t.admin({ method: 'GET', url: `${base}?limit=1`, token: staff.token });
    expect(names1.json().items.map((item: { name: string }) => item.name)).toEqual(['patients']);
    const names2 = await t.admin({ method: 'GET', url: `${base}?limit=1&cursor=${names1.json().nextCursor}`, token: staff.token });
    expect(names2.json()).toMatchObject({ items: [{ name: 'visits' }], nextCursor: null });

    // A byte-bounded page of one, then the next from its cursor: the public API's paging.
    const page1 = await t.admin({ method: 'GET', url: `${base}/patients/records?limit=1`, token: staff.token });
    expect(page1.statusCode, page1.body).toBe(200);
    expect(page1.json().items.map((item: { id: string }) => item.id)).toEqual([first.id]);
    const page2 = await t.admin({ method: 'GET', url: `${base}/patients/records?limit=1&cursor=${page1.json().nextCursor}`, token: staff.token });
    expect(page2.json().items.map((item: { id: string }) => item.id)).toEqual([second.id]);
    expect(page2.json().nextCursor).toBeNull();

    const read = await t.admin({ method: 'GET', url: `${base}/patients/records/${first.id}`, token: staff.token });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.headers.etag).toBe('"1"');
    expect(read.json()).toMatchObject({ id: first.id, collection: 'patients', data: { name: MARKER }, version: 1 });

    const updated = await t.admin({ method: 'PUT', url: `${base}/patients/records/${first.id}`, token: staff.token, headers: { 'if-match': '"1"' }, payload: { name: 'fixed by support' } });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.headers.etag).toBe('"2"');
    const stale = await t.admin({ method: 'PUT', url: `${base}/patients/records/${first.id}`, token: staff.token, headers: { 'if-match': '"1"' }, payload: { name: 'stale' } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.details).toMatchObject({ reason: 'version_mismatch', currentVersion: 2 });
    const asOwner = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${first.id}`, token: owner.token });
    expect(asOwner.json().data).toEqual({ name: 'fixed by support' });

    const deleted = await t.admin({ method: 'DELETE', url: `${base}/patients/records/${second.id}`, token: staff.token });
    expect(deleted.statusCode, deleted.body).toBe(204);
    const gone = await t.admin({ method: 'GET', url: `${base}/patients/records/${second.id}`, token: staff.token });
    expect(gone.statusCode).toBe(404);
    expect(errorCode(gone)).toBe('NOT_FOUND');

    // The tenant's log: each staff access exactly once, marked staff, with the grant and its justification.
    const all = (await t.request({ method: 'GET', url: '/v1/access-log?limit=500', token: owner.token })).json().items as Array<Record<string, any>>;
    const byStaff = (await t.request({ method: 'GET', url: '/v1/access-log?limit=500&actorType=staff', token: owner.token })).json().items as Array<Record<string, any>>;
    expect(byStaff).toEqual(all.filter((entry) => entry.actor.type === 'staff'));
    const actor = { type: 'staff', id: staff.id };
    expect(byStaff.map(({ actor, action, resource, grantId, justification }) => ({ actor, action, resource, grantId, justification }))).toEqual([
      { actor, action: 'list', resource: { type: 'collections' }, grantId, justification },
      { actor, action: 'list', resource: { type: 'collections' }, grantId, justification },
      { actor, action: 'list', resource: { type: 'collections' }, grantId, justification },
      { actor, action: 'list', resource: { type: 'collection', collection: 'patients' }, grantId, justification },
      { actor, action: 'list', resource: { type: 'collection', collection: 'patients' }, grantId, justification },
      { actor, action: 'read', resource: { type: 'record', collection: 'patients', id: first.id }, grantId, justification },
      { actor, action: 'update', resource: { type: 'record', collection: 'patients', id: first.id }, grantId, justification },
      { actor, action: 'delete', resource: { type: 'record', collection: 'patients', id: second.id }, grantId, justification },
    ]);
    expect(justification).toBe('INCIDENT_RESPONSE');
    expect(byStaff.slice(0, 3).map((entry) => entry.details)).toEqual([{ collections: ['patients', 'visits'] }, { collections: ['patients'] }, { collections: ['visits'] }]);
    expect(byStaff[3]!.details).toEqual({ ids: [first.id] });
    expect(all.filter((entry) => entry.actor.type !== 'staff').every((entry) => entry.grantId === undefined && entry.justification === undefined)).toBe(true);
    const verify = await t.request({ method: 'GET', url: '/v1/access-log/verify', token: owner.token });
    expect(verify.json()).toMatchObject({ ok: true, firstBadSeq: null });

    // Each successful access is a staff.grant.used event filed under the tenant (the 409 and 404 are not).
    const used = await eventsOf(staff.id, 'staff.grant.used');
    expect(used.map((event) => [event.tenantId, event.details?.action, event.details?.grantId]).reverse()).toEqual(
      ['list', 'list', 'list', 'list', 'list', 'read', 'update', 'delete'].map((action) => [owner.tenantId, action, grantId]),
    );
  });

  it('the realms are separate: a staff token is 401 on the public listener, a customer token or API key 401 on the admin listener', async () => {
    const staff = await buildStaff(t, { role: 'security-admin' });
    const owner = await buildTenant(t);
    const record = await buildRecord(t, owner, 'patients', { name: MARKER });
    await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read-write' });
    for (const url of ['/v1/me', '/v1/collections/patients/records', `/v1/collections/patients/records/${record.id}`, '/v1/access-log', '/v1/security-events']) {
      const response = await t.request({ method: 'GET', url, token: staff.token });
      expect(response.statusCode, url).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
    }
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'robot', scope: 'read-write' } });
    expect(key.statusCode, key.body).toBe(201);
    const customerUrls = [...dataRoutes(owner.tenantId, record.id).map((route) => route.url), '/admin/v1/staff-events', '/admin/v1/me'];
    for (const token of [owner.token, key.json().key as string]) {
      for (const url of customerUrls) {
        const response = await t.admin({ method: 'GET', url, token });
        expect(response.statusCode, url).toBe(401);
        expect(response.body).not.toContain(MARKER);
      }
    }
    // The same staff token does work where it belongs.
    expect((await t.admin({ method: 'GET', url: dataRoutes(owner.tenantId, record.id)[2]!.url, token: staff.token })).statusCode).toBe(200);
  });

  it('fails closed as the public side does: when the access log cannot be written, 503 AUDIT_UNAVAILABLE on every route, no data, nothing changed, no use event', async () => {
    const owner = await buildTenant(t);
    const staff = await buildStaff(t);
    const record = await buildRecord(t, owner, 'patients', { name: MARKER });
    await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read-write' });
    const db = t.app.services.db;
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER staff_audit_fault BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END`.execute(db);
    } else {
      await sql`CREATE FUNCTION staff_audit_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected audit fault'; END $$ LANGUAGE plpgsql`.execute(db);
      await sql`CREATE TRIGGER staff_audit_fault BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION staff_audit_fault()`.execute(db);
    }
    try {
      for (const route of dataRoutes(owner.tenantId, record.id)) {
        const response = await call(route, staff.token);
        expect(response.statusCode, route.name).toBe(503);
        expect(errorCode(response)).toBe('AUDIT_UNAVAILABLE');
        expect(response.body).not.toContain(MARKER);
      }
    } finally {
      if (dialect === 'sqlite') await sql`DROP TRIGGER staff_audit_fault`.execute(db);
      else {
        await sql`DROP TRIGGER staff_audit_fault ON access_log`.execute(db);
        await sql`DROP FUNCTION staff_audit_fault()`.execute(db);
      }
    }
    const row = await db.selectFrom('records').select('version').where('tenant_id', '=', owner.tenantId).where('id', '=', record.id).executeTakeFirstOrThrow();
    expect(Number(row.version)).toBe(1);
    expect(await eventsOf(staff.id, 'staff.grant.used')).toEqual([]);
  });

  it('a new staff policy version locks the data routes until it is acknowledged, grant or not', async () => {
    // Its own app: publishing a policy locks every staff member of the deployment.
    const own = await createTestApp(dialect);
    try {
      const owner = await buildTenant(own);
      const staff = await buildStaff(own);
      const securityAdmin = await buildStaff(own, { role: 'security-admin' });
      const record = await buildRecord(own, owner, 'patients', { name: MARKER });
      await insertGrantFixture(own, { tenantId: owner.tenantId, staffId: staff.id, scope: 'read-write' });
      const url = dataRoutes(owner.tenantId, record.id)[2]!.url;
      expect((await own.admin({ method: 'GET', url, token: staff.token })).statusCode).toBe(200);
      const published = await own.admin({ method: 'POST', url: '/admin/v1/staff-policy', token: securityAdmin.token, payload: { title: 'Staff policy', body: 'Only under a grant, only for the ticket.' } });
      expect(published.statusCode, published.body).toBe(201);
      const locked = await own.admin({ method: 'GET', url, token: staff.token });
      expect(locked.statusCode).toBe(403);
      expect(errorCode(locked)).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');
      expect(locked.body).not.toContain(MARKER);
      const ack = await own.admin({ method: 'POST', url: `/admin/v1/staff-policy/${published.json().version}/acknowledge`, token: staff.token });
      expect(ack.statusCode, ack.body).toBe(204);
      expect((await own.admin({ method: 'GET', url, token: staff.token })).statusCode).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('end to end through the request API: ask, the owner approves, read, the owner revokes, the next request is 403 with no customer bytes', async () => {
    const owner = await buildTenant(t);
    const staff = await buildStaff(t);
    const record = await buildRecord(t, owner, 'patients', { name: MARKER });
    const routes = dataRoutes(owner.tenantId, record.id);
    const asked = await t.admin({
      method: 'POST',
      url: '/admin/v1/access-requests',
      token: staff.token,
      payload: { tenantId: owner.tenantId, scope: 'read', justification: 'CUSTOMER_INITIATED_SUPPORT', reason: 'The customer reports a record that will not open in their app.', ticket: 'SUP-4711', durationMinutes: 60 },
    });
    expect(asked.statusCode, asked.body).toBe(201);
    expect(asked.json().status).toBe('pending');
    await expectAllRefused(staff, owner, record.id, 'pending');

    const approved = await t.request({ method: 'POST', url: `/v1/access-requests/${asked.json().id}/approve`, token: owner.token });
    expect(approved.statusCode, approved.body).toBe(200);
    const grantId = approved.json().grant.id as string;
    const read = await call(routes[2]!, staff.token);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ name: MARKER });
    // Read scope: no change.
    await expectRefused(await call(routes[3]!, staff.token), owner.tenantId, 'read-write');

    const revoked = await t.request({ method: 'POST', url: `/v1/access-grants/${grantId}/revoke`, token: owner.token });
    expect(revoked.statusCode, revoked.body).toBe(200);
    await expectAllRefused(staff, owner, record.id, 'revoked');

    const log = (await t.request({ method: 'GET', url: '/v1/access-log?limit=500&actorType=staff', token: owner.token })).json().items as Array<Record<string, any>>;
    expect(log.map(({ actor, action, grantId, justification }) => ({ actor, action, grantId, justification }))).toEqual([
      { actor: { type: 'staff', id: staff.id }, action: 'read', grantId, justification: 'CUSTOMER_INITIATED_SUPPORT' },
    ]);
    expect((await t.request({ method: 'GET', url: '/v1/access-log/verify', token: owner.token })).json().ok).toBe(true);
  });
});

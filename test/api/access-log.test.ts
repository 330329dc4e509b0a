import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';

interface Entry {
  seq: number;
  actor: { type: string; id: string };
  action: string;
  resource: { type: string; collection?: string; id?: string };
  details?: { ids?: string[] };
  ip: string;
  prevHash: string;
  hash: string;
}

describe.each(DIALECTS)('access log on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  async function allEntries(tenant: TestTenant): Promise<Entry[]> {
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/access-log?limit=500${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.request({ method: 'GET', url, token: tenant.token });
      expect(page.statusCode, page.body).toBe(200);
      entries.push(...page.json().items);
      cursor = page.json().nextCursor;
    } while (cursor);
    return entries;
  }
  const verify = async (tenant: TestTenant) => (await t.request({ method: 'GET', url: '/v1/access-log/verify', token: tenant.token })).json();
  const rows = (tenantId: string) => t.app.services.db.selectFrom('access_log').selectAll().where('tenant_id', '=', tenantId).orderBy('seq').execute();

  it('writes exactly one entry per operation, naming actor, action and resource', async () => {
    const tenant = await buildTenant(t);
    const ip = '203.0.113.7';
    const call = (method: string, url: string, payload?: object) =>
      t.request({ method: method, url, token: tenant.token, remoteAddress: ip, ...(payload ? { payload } : {}) });

    const created = (await call('POST', '/v1/collections/patients/records', { name: 'A' })).json();
    await call('GET', `/v1/collections/patients/records/${created.id}`);
    await call('PUT', `/v1/collections/patients/records/${created.id}`, { name: 'B' });
    await call('GET', '/v1/collections/patients/records');
    await call('DELETE', `/v1/collections/patients/records/${created.id}`);

    const entries = await allEntries(tenant);
    const resource = { type: 'record', collection: 'patients', id: created.id };
    expect(entries.map(({ seq, action, resource, actor, ip }) => ({ seq, action, resource, actor, ip }))).toEqual([
      { seq: 1, action: 'create', resource, actor: { type: 'member', id: tenant.userId }, ip },
      { seq: 2, action: 'read', resource, actor: { type: 'member', id: tenant.userId }, ip },
      { seq: 3, action: 'update', resource, actor: { type: 'member', id: tenant.userId }, ip },
      { seq: 4, action: 'list', resource: { type: 'collection', collection: 'patients' }, actor: { type: 'member', id: tenant.userId }, ip },
      { seq: 5, action: 'delete', resource, actor: { type: 'member', id: tenant.userId }, ip },
      // Reading the log is itself logged, before the page is read.
      { seq: 6, action: 'read', resource: { type: 'accessLog' }, actor: { type: 'member', id: tenant.userId }, ip: '127.0.0.1' },
    ]);
    expect(entries[3]!.details).toEqual({ ids: [created.id] });
    for (let i = 1; i < entries.length; i += 1) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
  });

  it('names every returned id in a list entry, and only those', async () => {
    const tenant = await buildTenant(t);
    const ids = [];
    for (let i = 0; i < 3; i += 1) ids.push((await buildRecord(t, tenant, 'items')).id);
    await t.request({ method: 'GET', url: '/v1/collections/items/records?limit=2', token: tenant.token });
    const list = (await allEntries(tenant)).filter((entry) => entry.action === 'list');
    expect(list).toHaveLength(1);
    expect(list[0]!.details).toEqual({ ids: ids.slice(0, 2) });
  });

  it('keeps each tenant’s log to itself, each starting at seq 1', async () => {
    const a = await buildTenant(t);
    const b = await buildTenant(t);
    await buildRecord(t, a);
    await buildRecord(t, b);
    const entriesA = await allEntries(a);
    const entriesB = await allEntries(b);
    expect(entriesA[0]!.seq).toBe(1);
    expect(entriesB[0]!.seq).toBe(1);
    expect(entriesA.every((entry) => entry.actor.id === a.userId)).toBe(true);
    expect(entriesB.every((entry) => entry.actor.id === b.userId)).toBe(true);
  });

  it('filters by actor type and refuses an unknown one', async () => {
    const tenant = await buildTenant(t);
    await buildRecord(t, tenant);
    const members = await t.request({ method: 'GET', url: '/v1/access-log?actorType=member', token: tenant.token });
    expect(members.json().items.length).toBeGreaterThan(0);
    const staff = await t.request({ method: 'GET', url: '/v1/access-log?actorType=staff', token: tenant.token });
    expect(staff.json().items).toEqual([]);
    const bad = await t.request({ method: 'GET', url: '/v1/access-log?actorType=robot', token: tenant.token });
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('VALIDATION_FAILED');
  });

  it('verifies an intact log', async () => {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 5; i += 1) await buildRecord(t, tenant);
    const report = await verify(tenant);
    expect(report).toMatchObject({ ok: true, problems: [], firstBadSeq: null });
    expect(report.entries).toBe(6); // five creates and the verify itself
  });

  async function tamperedTenant(): Promise<TestTenant> {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 6; i += 1) await buildRecord(t, tenant, 'patients', { i });
    expect((await verify(tenant)).ok).toBe(true); // entry 7
    return tenant;
  }

  it('detects an edited entry and names its seq', async () => {
    const tenant = await tamperedTenant();
    await t.app.services.db.updateTable('access_log').set({ action: 'read' }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 3).execute();
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(3);
    expect(report.problems[0]).toMatchObject({ seq: 3, kind: 'hash_mismatch' });
  });

  it('detects an edited entry even when its hash was recomputed by the editor', async () => {
    const tenant = await tamperedTenant();
    // A forger who rewrites entry 2's hash still breaks the link from entry 3.
    await t.app.services.db.updateTable('access_log').set({ actor_id: 'someone-else', hash: 'f'.repeat(64) }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 2).execute();
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(2);
  });

  it('detects a changed encrypted field (the client IP)', async () => {
    const tenant = await tamperedTenant();
    const [first, second] = await rows(tenant.tenantId);
    await t.app.services.db.updateTable('access_log').set({ ip_enc: first!.ip_enc }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', second!.seq).execute();
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(2);
    expect(report.problems[0].kind).toBe('unreadable');
  });

  it('detects a deleted entry and names its seq', async () => {
    const tenant = await tamperedTenant();
    await t.app.services.db.deleteFrom('access_log').where('tenant_id', '=', tenant.tenantId).where('seq', '=', 4).execute();
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(4);
    expect(report.problems[0].kind).toBe('missing');
  });

  it('detects two swapped entries and names the first', async () => {
    const tenant = await tamperedTenant();
    const all = await rows(tenant.tenantId);
    const [two, five] = [all[1]!, all[4]!];
    const { db } = t.app.services;
    const contents = (row: typeof two) => {
      const { tenant_id: _tenant, seq: _seq, ...rest } = row;
      return rest;
    };
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('access_log').set(contents(five)).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 2).execute();
      await trx.updateTable('access_log').set(contents(two)).where('tenant_id', '=', tenant.tenantId).where('seq', '=', 5).execute();
    });
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(2);
  });

  it('detects a truncated tail against the recorded head', async () => {
    const tenant = await tamperedTenant();
    await t.app.services.db.deleteFrom('access_log').where('tenant_id', '=', tenant.tenantId).where('seq', '>=', 6).execute();
    const report = await verify(tenant);
    expect(report.ok).toBe(false);
    expect(report.firstBadSeq).toBe(6);
  });

  it('confide audit verify checks every tenant and exits non-zero naming the bad seq', async () => {
    const good = await tamperedTenant();
    const ok = runCli(['audit', 'verify', '--tenant', good.tenantId, '--json'], t.env);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, tenants: [{ tenantId: good.tenantId, ok: true, entries: 7 }] });

    await t.app.services.db.updateTable('access_log').set({ resource_id: 'forged' }).where('tenant_id', '=', good.tenantId).where('seq', '=', 5).execute();
    const broken = runCli(['audit', 'verify', '--tenant', good.tenantId], t.env);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toContain('BROKEN at entry 5');

    const all = runCli(['audit', 'verify', '--json'], t.env);
    expect(all.status).toBe(1);
    const report = JSON.parse(all.stdout);
    expect(report.tenants.length).toBeGreaterThan(1);
    expect(report.tenants.find((r: { tenantId: string }) => r.tenantId === good.tenantId).firstBadSeq).toBe(5);

    const unknown = runCli(['audit', 'verify', '--tenant', '01900000-0000-7000-8000-000000000000'], t.env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('lets only owners and admins read or verify the log', async () => {
    const tenant = await buildTenant(t);
    // Demote the owner to a plain member directly: member management arrives with the identity issue.
    await t.app.services.db.updateTable('memberships').set({ role: 'member' }).where('user_id', '=', tenant.userId).execute();
    const member = await signIn(t, tenant.email, tenant.password);
    for (const url of ['/v1/access-log', '/v1/access-log/verify']) {
      const response = await t.request({ method: 'GET', url, token: member.token });
      expect(response.statusCode).toBe(403);
      expect(errorCode(response)).toBe('FORBIDDEN');
    }
    // A member still reaches records.
    expect((await t.request({ method: 'POST', url: '/v1/collections/x/records', token: member.token, payload: { a: 1 } })).statusCode).toBe(201);
  });

  describe('when the log cannot be written (fault injected in the database)', () => {
    const breakLog = async () => {
      if (dialect === 'sqlite') {
        await sql`CREATE TRIGGER audit_fault BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'injected audit fault'); END`.execute(t.app.services.db);
      } else {
        await sql`CREATE FUNCTION audit_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected audit fault'; END $$ LANGUAGE plpgsql`.execute(t.app.services.db);
        await sql`CREATE TRIGGER audit_fault BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION audit_fault()`.execute(t.app.services.db);
      }
    };
    const repairLog = async () => {
      if (dialect === 'sqlite') await sql`DROP TRIGGER audit_fault`.execute(t.app.services.db);
      else {
        await sql`DROP TRIGGER audit_fault ON access_log`.execute(t.app.services.db);
        await sql`DROP FUNCTION audit_fault()`.execute(t.app.services.db);
      }
    };

    it('serves no data and changes nothing, answering 503 AUDIT_UNAVAILABLE, then recovers', async () => {
      const tenant = await buildTenant(t);
      const secret = `secret-${randomBytes(6).toString('hex')}`;
      const record = await buildRecord(t, tenant, 'patients', { secret });
      const recordsBefore = await t.app.services.db.selectFrom('records').select('id').where('tenant_id', '=', tenant.tenantId).execute();
      await breakLog();
      try {
        const requests = [
          { method: 'GET', url: `/v1/collections/patients/records/${record.id}` },
          { method: 'GET', url: '/v1/collections/patients/records' },
          { method: 'POST', url: '/v1/collections/patients/records', payload: { secret: 'new' } },
          { method: 'PUT', url: `/v1/collections/patients/records/${record.id}`, payload: { secret: 'changed' } },
          { method: 'DELETE', url: `/v1/collections/patients/records/${record.id}` },
          { method: 'GET', url: '/v1/access-log' },
        ];
        for (const request of requests) {
          const response = await t.request({ ...(request as { method: 'GET'; url: string }), token: tenant.token });
          expect(response.statusCode, `${request.method} ${request.url}`).toBe(503);
          expect(errorCode(response)).toBe('AUDIT_UNAVAILABLE');
          expect(response.body).not.toContain(secret);
          expect(response.body).not.toContain('injected audit fault');
        }
        const recordsAfter = await t.app.services.db.selectFrom('records').selectAll().where('tenant_id', '=', tenant.tenantId).execute();
        expect(recordsAfter.map((row) => row.id)).toEqual(recordsBefore.map((row) => row.id));
        expect(recordsAfter[0]!.version).toBe(1);
      } finally {
        await repairLog();
      }
      const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token });
      expect(read.statusCode).toBe(200);
      expect(read.json().data.secret).toBe(secret);
      expect((await verify(tenant)).ok).toBe(true);
    });
  });
});

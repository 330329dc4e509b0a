import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildMember, buildRecord, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';
import { KEPT_AFTER_DELETION, TENANT_TABLES } from '../../src/tenants/tenant-rows.js';

describe.each(DIALECTS)('deleting a tenant (DELETE /v1/tenant) on %s', (dialect) => {
  const opened: TestApp[] = [];
  const roots: string[] = [];
  afterEach(async () => {
    for (const app of opened.splice(0)) await app.close();
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  /** A test app with a tenant key store (its own directory, outside the data directory), or without one. */
  async function start(withStore: boolean): Promise<{ t: TestApp; keyDir: string }> {
    const root = mkdtempSync(join(tmpdir(), 'confide-tkeys-'));
    roots.push(root);
    const keyDir = join(root, 'tenants');
    const t = await createTestApp(dialect, { env: withStore ? { CONFIDE_TENANT_KEY_DIR: keyDir } : {} });
    opened.push(t);
    return { t, keyDir };
  }

  const remove = (t: TestApp, tenant: TestTenant, confirm: string = tenant.tenantId, proof: { password?: string; code?: string } = {}) =>
    t.request({ method: 'DELETE', url: '/v1/tenant', token: tenant.token, payload: { confirm, ...proof } });

  /** Rows of the tenant left in any table that has a tenant column. */
  async function rowsLeft(t: TestApp, tenantId: string): Promise<Record<string, number>> {
    const left: Record<string, number> = {};
    for (const [table, column] of TENANT_TABLES) {
      // The deletion's own security event stays, for the operator.
      const kept = table === 'security_events' ? sql` and type <> 'tenant.deleted'` : sql``;
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} = ${tenantId}${kept}`.execute(t.app.services.db);
      if (Number(rows[0]!.n) > 0) left[table] = Number(rows[0]!.n);
    }
    return left;
  }

  it('destroys the tenant key, removes every row of the tenant, and its sessions, API keys and members stop working at once', async () => {
    const { t, keyDir } = await start(true);
    const owner = await buildTenant(t);
    const member = await buildMember(t, owner, 'member');
    const other = await buildTenant(t);
    const othersRecord = await buildRecord(t, other, 'patients', { name: 'still here' });
    const record = await buildRecord(t, owner, 'patients', { name: 'to be shredded' });
    const apiKey = (await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'etl', scope: 'read' } })).json().key as string;
    expect(existsSync(join(keyDir, `${owner.tenantId}.kek`))).toBe(true);
    const wrapped = await t.app.services.db.selectFrom('key_ring').select('wrapped_by').where('owner', '=', owner.tenantId).execute();
    expect(wrapped.map((row) => row.wrapped_by)).toEqual(['tenant', 'tenant']); // v1, and v2 made ahead

    // API.md: `{"confirm", "password"}` → 204; whether the keys were shredded is in a header.
    const deleted = await remove(t, owner, owner.tenantId, { password: owner.password });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(deleted.body).toBe('');
    expect(deleted.headers['confide-shredded']).toBe('true');
    // The final checkpoint seals the deletion's own entry (the head it made) and is kept for the operator.
    const kept = await t.app.services.db.selectFrom('access_log_checkpoints').selectAll().where('tenant_id', '=', owner.tenantId).orderBy('seq', 'desc').executeTakeFirst();
    expect(kept?.seq).toBeGreaterThan(0);

    expect(existsSync(join(keyDir, `${owner.tenantId}.kek`))).toBe(false);
    expect(readdirSync(keyDir)).toContain(`${owner.tenantId}.deleted`);
    expect(await rowsLeft(t, owner.tenantId)).toEqual({});
    const users = await t.app.services.db.selectFrom('users').select('id').where('id', 'in', [owner.userId, member.userId]).execute();
    expect(users).toEqual([]);

    // Everything that named the tenant now answers as for something that never existed.
    for (const token of [owner.token, member.token, apiKey]) {
      const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token });
      expect(read.statusCode).toBe(401);
      expect(errorCode(read)).toBe('UNAUTHENTICATED');
    }
    const again = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: owner.email, password: owner.password } });
    expect(again.statusCode).toBe(401);
    // Others are untouched.
    const othersRead = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${othersRecord.id}`, token: other.token });
    expect(othersRead.statusCode, othersRead.body).toBe(200);
    expect(othersRead.json().data).toEqual({ name: 'still here' });

    await t.app.services.securityEvents.flush();
    const event = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('tenant_id', '=', owner.tenantId).execute();
    expect(event).toEqual([{ type: 'tenant.deleted', actor_type: 'member', actor_id: owner.userId }]);
  });

  it('wraps every version of a rotated key under the tenant key, and shreds them all', async () => {
    const { t, keyDir } = await start(true);
    const owner = await buildTenant(t);
    const before = await buildRecord(t, owner, 'patients', { name: 'under version 1' });
    expect((await t.request({ method: 'POST', url: '/v1/tenant/keys/rotate', token: owner.token })).statusCode).toBe(202);
    await buildRecord(t, owner, 'patients', { name: 'under version 2' });
    const rows = await t.app.services.db.selectFrom('key_ring').select(['version', 'wrapped_by']).where('owner', '=', owner.tenantId).orderBy('version').execute();
    expect(rows.map((row) => `${row.version}:${row.wrapped_by}`)).toEqual(['1:tenant', '2:tenant', '3:tenant']);
    await t.app.services.keyRing.forgetAll(); // read back through the TKEK, not from the cache
    expect((await t.request({ method: 'GET', url: `/v1/collections/patients/records/${before.id}`, token: owner.token })).json().data).toEqual({ name: 'under version 1' });
    expect((await remove(t, owner)).headers['confide-shredded']).toBe('true');
    expect(readdirSync(keyDir)).toEqual([`${owner.tenantId}.deleted`]);
  });

  it('keeps the account of a member who also belongs to another tenant, removing only this membership', async () => {
    const { t } = await start(true);
    const owner = await buildTenant(t);
    const other = await buildTenant(t);
    // FIXTURE: the other tenant's owner is also an admin here (as an accepted invitation would make them).
    await t.app.services.db.insertInto('memberships').values({ tenant_id: owner.tenantId, user_id: other.userId, role: 'admin', created_at: t.clock.now().toISOString() }).execute();
    const deleted = await remove(t, owner);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await t.app.services.db.selectFrom('users').select('id').where('id', '=', owner.userId).execute()).toEqual([]); // the owner's account went with it
    const memberships = await t.app.services.db.selectFrom('memberships').select('tenant_id').where('user_id', '=', other.userId).execute();
    expect(memberships).toEqual([{ tenant_id: other.tenantId }]);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: other.token })).statusCode).toBe(200);
  });

  it('refuses a wrong confirmation (400), a member or admin (403), an API key (403) and a stale sign-in (403), and changes nothing', async () => {
    const { t, keyDir } = await start(true);
    const owner = await buildTenant(t);
    const record = await buildRecord(t, owner, 'patients', { name: 'kept' });
    const other = await buildTenant(t);

    const wrong = await remove(t, owner, other.tenantId);
    expect(wrong.statusCode).toBe(400);
    expect(errorCode(wrong)).toBe('VALIDATION_FAILED');
    expect(wrong.json().error.details).toMatchObject({ field: 'confirm', reason: 'confirmation_mismatch' });
    expect((await t.request({ method: 'DELETE', url: '/v1/tenant', token: owner.token, payload: {} })).statusCode).toBe(400);

    for (const role of ['member', 'admin'] as const) {
      const person = await buildMember(t, owner, role);
      const refused = await remove(t, person, owner.tenantId);
      expect(refused.statusCode, role).toBe(403);
      expect(errorCode(refused)).toBe('FORBIDDEN');
    }
    const apiKey = (await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'etl', scope: 'read-write' } })).json().key as string;
    const byKey = await t.request({ method: 'DELETE', url: '/v1/tenant', token: apiKey, payload: { confirm: owner.tenantId } });
    expect(byKey.statusCode).toBe(403);

    t.clock.advance(6 * 60); // the owner's sign-in is now older than 5 minutes
    const stale = await remove(t, owner);
    expect(stale.statusCode).toBe(403);
    expect(errorCode(stale)).toBe('REAUTHENTICATION_REQUIRED');
    const wrongPassword = await remove(t, owner, owner.tenantId, { password: `${owner.password}x` });
    expect(wrongPassword.statusCode).toBe(401);
    expect(errorCode(wrongPassword)).toBe('UNAUTHENTICATED');

    expect(existsSync(join(keyDir, `${owner.tenantId}.kek`))).toBe(true);
    const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ name: 'kept' });
    // A fresh sign-in is enough.
    const fresh = await signIn(t, owner.email, owner.password);
    expect((await remove(t, { ...owner, token: fresh.token })).statusCode).toBe(204);
  });

  it('without a tenant key store, removes the rows but says plainly that nothing was shredded', async () => {
    const { t } = await start(false);
    expect(t.app.services.tenantKeys).toBeNull();
    const owner = await buildTenant(t);
    await buildRecord(t, owner);
    const wrapped = await t.app.services.db.selectFrom('key_ring').select('wrapped_by').where('owner', '=', owner.tenantId).execute();
    expect(wrapped.map((row) => row.wrapped_by)).toEqual(['master', 'master']);
    const deleted = await remove(t, owner);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(deleted.headers['confide-shredded']).toBe('false');
    expect(await rowsLeft(t, owner.tenantId)).toEqual({});
  });

  it('covers every table that has a tenant column: a new one must be deleted with its tenant, or kept on purpose', async () => {
    const { t } = await start(false);
    const tables = await t.app.services.db.introspection.getTables();
    const withTenant = tables.filter((table) => table.columns.some((column) => column.name === 'tenant_id')).map((table) => table.name);
    const covered = new Set<string>([...TENANT_TABLES.map(([table]) => table), ...KEPT_AFTER_DELETION]);
    expect(withTenant.filter((table) => !covered.has(table))).toEqual([]);
  });
});

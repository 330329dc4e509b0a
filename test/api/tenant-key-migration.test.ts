import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { freshKeyLabel, pkcs11Env } from '../harness/pkcs11-fixture.js';
import { migrateTenantKeys } from '../../src/keys/migrate-tenant-keys.js';
import { openTenantKeyStore } from '../../src/keys/open-tenant-key-store.js';
import { unwrapKey } from '../../src/keys/key-wrapping.js';
import type { TenantKeyStore } from '../../src/keys/tenant-key-store.js';

/** A store that fails like a crash at one step: the process would stop there. */
function crashingAt<T extends object>(store: T, method: keyof T, after = 0): T {
  let calls = 0;
  return new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name !== method || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        calls += 1;
        if (calls > after) throw new Error('crash');
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe.each(DIALECTS)('moving tenant keys between stores, stopped and run again, on %s', (dialect) => {
  const roots: string[] = [];
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('a stop before the commit leaves every key under the source, a stop after it every key under the target; a re-run finishes', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-tkmove-'));
    roots.push(root);
    const keyDir = join(root, 'tenants');
    t = await createTestApp(dialect, { env: { ...pkcs11Env(root, freshKeyLabel()), CONFIDE_TENANT_KEY_DIR: keyDir } });
    const tenants = [await buildTenant(t), await buildTenant(t)];
    for (const tenant of tenants) await buildRecord(t, tenant);
    const { db, transactions, masterKey, tenantKeys } = t.app.services;
    const source = tenantKeys!;
    const target = openTenantKeyStore(t.app.services.config, masterKey, 'pkcs11')!;
    try {
      const postgres = dialect === 'postgres';
      const rows = () => db.selectFrom('key_ring').select(['owner', 'purpose', 'version', 'wrapped_key']).where('wrapped_by', '=', 'tenant').execute();
      const allOpenUnder = async (store: TenantKeyStore) => {
        for (const row of await rows()) unwrapKey(store.wrapperOf(row.owner), { owner: row.owner, purpose: row.purpose, version: Number(row.version) }, row.wrapped_key);
        return true;
      };

      // Stopped inside the transaction, after the first row was re-wrapped: all rolled back.
      const wrapsOnce = new Proxy(target, {
        get: (store, name) => (name === 'wrapperOf' ? (id: string, options?: { create?: boolean }) => crashingAt(store.wrapperOf(id, options), 'wrap', 1) : Reflect.get(store, name, store)),
      });
      await expect(migrateTenantKeys(db, transactions, postgres, source, wrapsOnce)).rejects.toThrow('crash');
      expect(await allOpenUnder(source)).toBe(true);
      expect(readdirSync(keyDir).filter((name) => name.endsWith('.kek'))).toHaveLength(2);

      // Stopped after the commit, before the source's keys were destroyed.
      await expect(migrateTenantKeys(db, transactions, postgres, crashingAt(source, 'discard'), target)).rejects.toThrow('crash');
      expect(await allOpenUnder(target)).toBe(true);
      expect(readdirSync(keyDir).filter((name) => name.endsWith('.kek'))).toHaveLength(2);

      // Run again: nothing to re-wrap, the source emptied.
      expect(await migrateTenantKeys(db, transactions, postgres, source, target)).toMatchObject({ tenants: 2, keys: 0 });
      expect(readdirSync(keyDir).filter((name) => name.endsWith('.kek'))).toEqual([]);
      expect(await allOpenUnder(target)).toBe(true);
    } finally {
      for (const tenant of tenants) target.discard(tenant.tenantId);
      target.close();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAppError } from '../lib/app-error.js';
import { FileTenantKeyStore } from './file-tenant-key-store.js';
import { inMemoryMasterKey } from './master-key.js';

const dirs: string[] = [];
const masterKey = () => inMemoryMasterKey('env', randomBytes(32), 'test master key');
function freshDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'confide-tkek-'));
  dirs.push(root);
  return join(root, 'tenants');
}
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const code = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return isAppError(error) ? error.code : (error as Error).message;
  }
  return 'no error';
};

describe('the file tenant key store', () => {
  it('creates one private file per tenant, durably, and gives the same key back', () => {
    const dir = freshDir();
    const store = new FileTenantKeyStore(dir, masterKey());
    const key = store.keyOf('tenant-a', { create: true });
    expect(key).toHaveLength(32);
    expect(store.keyOf('tenant-a').equals(key)).toBe(true);
    expect(store.keyOf('tenant-b', { create: true }).equals(key)).toBe(false);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'tenant-a.kek')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['tenant-a.kek', 'tenant-b.kek']); // no temporary file left
    // Only wrapped: the key's bytes are nowhere in the file.
    const text = readFileSync(join(dir, 'tenant-a.kek'), 'utf8');
    for (const form of ['base64', 'base64url', 'hex'] as const) expect(text).not.toContain(key.toString(form));
  });

  it('opens only under the master key that wrapped it, and only for its own tenant', () => {
    const dir = freshDir();
    new FileTenantKeyStore(dir, masterKey()).keyOf('tenant-a', { create: true });
    expect(code(() => new FileTenantKeyStore(dir, masterKey()).keyOf('tenant-a'))).toMatch(/not wrapped by the test master key/);
  });

  it('never replaces a key another node made first: both use the same one', () => {
    const dir = freshDir();
    const key = masterKey();
    const first = new FileTenantKeyStore(dir, key).keyOf('tenant-a', { create: true });
    const second = new FileTenantKeyStore(dir, key).keyOf('tenant-a', { create: true });
    expect(second.equals(first)).toBe(true);
  });

  it('destroys a key for good: the file is gone, a tombstone stays, and no key is ever made again for that tenant', () => {
    const dir = freshDir();
    const store = new FileTenantKeyStore(dir, masterKey());
    store.keyOf('tenant-a', { create: true });
    expect(store.destroy('tenant-a', '2026-01-02T03:04:05.000Z')).toBe(true);
    expect(existsSync(join(dir, 'tenant-a.kek'))).toBe(false);
    expect(store.deletedAt('tenant-a')).toBe('2026-01-02T03:04:05.000Z');
    expect(code(() => store.keyOf('tenant-a'))).toBe('TENANT_DELETED');
    expect(code(() => store.keyOf('tenant-a', { create: true }))).toBe('TENANT_DELETED');
    expect(readdirSync(dir)).toEqual(['tenant-a.deleted']);
  });

  it('says plainly when a key is missing that was never deleted (a node without the shared directory)', () => {
    const store = new FileTenantKeyStore(freshDir(), masterKey());
    expect(code(() => store.keyOf('tenant-a'))).toMatch(/holds no key for tenant tenant-a; every node must use the same directory/);
  });

  it('refuses a tenant id that is not a plain id (no path)', () => {
    const store = new FileTenantKeyStore(freshDir(), masterKey());
    expect(code(() => store.keyOf('../escape', { create: true }))).toBe('not a tenant id');
  });

  it('re-wraps every key under a new master key, keeping the old wrapping until told to drop it', () => {
    const dir = freshDir();
    const current = masterKey();
    const next = masterKey();
    const key = new FileTenantKeyStore(dir, current).keyOf('tenant-a', { create: true });
    new FileTenantKeyStore(dir, current).keyOf('tenant-b', { create: true });
    expect(new FileTenantKeyStore(dir, current).rewrapAll(current, next)).toBe(2);
    expect(new FileTenantKeyStore(dir, current).keyOf('tenant-a').equals(key)).toBe(true);
    expect(new FileTenantKeyStore(dir, next).keyOf('tenant-a').equals(key)).toBe(true);
    expect(new FileTenantKeyStore(dir, next).keepOnly(next.id)).toBe(2);
    expect(new FileTenantKeyStore(dir, next).keyOf('tenant-a').equals(key)).toBe(true);
    expect(code(() => new FileTenantKeyStore(dir, current).keyOf('tenant-a'))).toMatch(/not wrapped by/);
  });

  it('a master key switch does not bring back the key file of a tenant deleted while it ran', () => {
    const dir = freshDir();
    const current = masterKey();
    const store = new FileTenantKeyStore(dir, current);
    store.keyOf('tenant-a', { create: true });
    store.keyOf('tenant-b', { create: true });
    // Deleted by a running node as the switch got to it: the tombstone is written, the file not yet removed.
    writeFileSync(join(dir, 'tenant-a.deleted'), `${JSON.stringify({ tenantId: 'tenant-a', deletedAt: new Date().toISOString() })}\n`, { mode: 0o600 });
    expect(store.rewrapAll(current, masterKey())).toBe(1);
    expect(existsSync(join(dir, 'tenant-a.kek'))).toBe(false);
    expect(existsSync(join(dir, 'tenant-b.kek'))).toBe(true);
  });
});

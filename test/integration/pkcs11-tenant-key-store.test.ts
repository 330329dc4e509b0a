import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Pkcs11Settings } from '../../src/config/config.js';
import { DecryptionError } from '../../src/lib/aes-gcm.js';
import { slotAad } from '../../src/keys/key-wrapping.js';
import { Pkcs11TenantKeyStore } from '../../src/keys/pkcs11-tenant-key-store.js';
import { newId } from '../../src/lib/ids.js';
import { findTokenKeys, freshKeyLabel, onToken, pkcs11Env } from '../harness/pkcs11-fixture.js';

const roots: string[] = [];
const stores: Pkcs11TenantKeyStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A store on the run's SoftHSM token, as CONFIDE_PKCS11_* would name it (one per "node"). */
function openStore(): Pkcs11TenantKeyStore {
  const root = mkdtempSync(join(tmpdir(), 'confide-tkek-'));
  roots.push(root);
  const env = pkcs11Env(root, freshKeyLabel());
  const settings: Pkcs11Settings = { module: env.CONFIDE_PKCS11_MODULE!, tokenLabel: env.CONFIDE_PKCS11_TOKEN_LABEL!, pinFile: env.CONFIDE_PKCS11_PIN_FILE!, keyLabel: env.CONFIDE_PKCS11_KEY_LABEL! };
  const store = Pkcs11TenantKeyStore.open(settings);
  stores.push(store);
  return store;
}

const code = (work: () => unknown) => {
  try {
    work();
    return 'no error';
  } catch (error) {
    return (error as { code?: string; message: string }).code ?? (error as Error).message;
  }
};

const aad = (tenantId: string, version = 1) => slotAad({ owner: tenantId, purpose: 'data', version });

describe('tenant key-encryption keys as PKCS#11 token objects (SoftHSM2)', () => {
  it('generates one non-extractable, sensitive AES-256 token object per tenant and wraps inside the token, bound to the slot', () => {
    const store = openStore();
    const [a, b] = [newId(), newId()];
    const dataKey = randomBytes(32);
    const wrapped = store.wrapperOf(a, { create: true }).wrap(dataKey, aad(a));
    expect(wrapped).toMatch(/^w1\.A256GCM\./);
    expect(store.wrapperOf(a).unwrap(wrapped, aad(a))).toEqual(dataKey);
    expect(() => store.wrapperOf(a).unwrap(wrapped, aad(a, 2))).toThrow(DecryptionError);
    // Another tenant's TKEK does not open it.
    expect(() => store.wrapperOf(b, { create: true }).unwrap(wrapped, aad(a))).toThrow(DecryptionError);
    expect(store.rewrapAll()).toBe(0);

    onToken((library, session, P) => {
      const [key, ...others] = findTokenKeys(library, session, P, `confide-tkek-${a}`);
      expect(others).toEqual([]);
      const attributes = library.C_GetAttributeValue(session, key!, [
        { type: P.CKA_EXTRACTABLE },
        { type: P.CKA_SENSITIVE },
        { type: P.CKA_NEVER_EXTRACTABLE },
        { type: P.CKA_TOKEN },
        { type: P.CKA_PRIVATE },
        { type: P.CKA_VALUE_LEN },
        { type: P.CKA_ID },
      ]);
      expect(attributes.slice(0, 5).map((attribute) => attribute.value[0])).toEqual([0, 1, 1, 1, 1]);
      expect(attributes[5]!.value.readBigUInt64LE()).toBe(32n);
      expect(attributes[6]!.value).toHaveLength(16);
      expect(() => library.C_GetAttributeValue(session, key!, [{ type: P.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    });
  });

  it('refuses a missing key without create, and never makes one for a tenant it does not know', () => {
    const store = openStore();
    expect(code(() => store.wrapperOf(newId()))).toMatch(/holds no key for tenant .*CONFIDE_TENANT_KEY_STORE/);
    expect(code(() => store.wrapperOf('../x', { create: true }))).toBe('not a tenant id');
  });

  it('destroys the object and leaves a tombstone in the token that another session sees, and no key is made again for that tenant', () => {
    const store = openStore();
    const other = openStore(); // another node on the same token
    const tenantId = newId();
    const wrapper = store.wrapperOf(tenantId, { create: true });
    const wrapped = wrapper.wrap(randomBytes(32), aad(tenantId));
    expect(other.wrapperOf(tenantId).unwrap(wrapped, aad(tenantId))).toHaveLength(32); // caches its handle

    const deletedAt = new Date().toISOString();
    expect(store.destroy(tenantId, deletedAt)).toBe(true);
    onToken((library, session, P) => expect(findTokenKeys(library, session, P, `confide-tkek-${tenantId}`)).toEqual([]));
    expect(other.deletedAt(tenantId)).toBe(deletedAt);
    expect(other.tombstones()).toContainEqual({ tenantId, deletedAt });
    // The other node's cached handle is stale: its next use is refused as deleted, not a fault.
    expect(code(() => other.wrapperOf(tenantId).unwrap(wrapped, aad(tenantId)))).toBe('TENANT_DELETED');
    expect(code(() => store.wrapperOf(tenantId, { create: true }))).toBe('TENANT_DELETED');
    expect(store.destroy(tenantId, deletedAt)).toBe(false);
    expect(store.tombstones().filter((tombstone) => tombstone.tenantId === tenantId)).toHaveLength(1);
  });

  it('keeps both keys two nodes made at once: wraps with the lowest CKA_ID, unwraps with either', () => {
    const store = openStore();
    const tenantId = newId();
    const first = store.wrapperOf(tenantId, { create: true }).wrap(Buffer.alloc(32, 1), aad(tenantId));
    // A second node generated its own under the same label before it saw the first.
    onToken((library, session, P) => {
      library.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_VALUE_LEN, value: 32 },
        { type: P.CKA_LABEL, value: `confide-tkek-${tenantId}` },
        { type: P.CKA_ID, value: Buffer.alloc(16, 0) }, // lower than any random id
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_DECRYPT, value: true },
      ]);
    });
    const fresh = openStore();
    const second = fresh.wrapperOf(tenantId).wrap(Buffer.alloc(32, 2), aad(tenantId));
    expect(fresh.wrapperOf(tenantId).unwrap(first, aad(tenantId))).toEqual(Buffer.alloc(32, 1));
    expect(fresh.wrapperOf(tenantId).unwrap(second, aad(tenantId))).toEqual(Buffer.alloc(32, 2));
    expect(() => store.wrapperOf(tenantId).unwrap(second, aad(tenantId))).toThrow(DecryptionError); // made with the other key
    expect(fresh.destroy(tenantId, new Date().toISOString())).toBe(true);
    onToken((library, session, P) => expect(findTokenKeys(library, session, P, `confide-tkek-${tenantId}`)).toEqual([]));
  });

  it('discards a key that moved to another store without a tombstone', () => {
    const store = openStore();
    const tenantId = newId();
    store.wrapperOf(tenantId, { create: true });
    expect(store.discard(tenantId)).toBe(true);
    expect(store.deletedAt(tenantId)).toBeNull();
    expect(code(() => store.wrapperOf(tenantId))).toMatch(/holds no key/);
  });
});

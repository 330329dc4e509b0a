import { randomBytes } from 'node:crypto';
import type { Pkcs11Settings } from '../config/config.js';
import { DecryptionError } from '../lib/aes-gcm.js';
import { openTokenSession, tokenAesKeyTemplate, tokenGcmWrapper } from './pkcs11-master-key.js';
import { pkcs11js, type Pkcs11Library } from './pkcs11-module.js';
import { tenantKeyUnavailable, type KeyWrapper, type TenantKeyStore } from './tenant-key-store.js';

type Handle = Buffer;
type Template = Array<{ type: number; value?: number | boolean | string | Buffer }>;

const KEY_LABEL = 'confide-tkek-';
const TOMBSTONE_LABEL = 'confide-tkek-deleted-';
const APPLICATION = 'confide';
// Tenant ids are UUIDs (36 characters): labels of at most 21 + 64 characters, whatever a caller passes.
const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;
// Another node destroyed the object (the tenant was deleted there): handles cached here are stale.
const HANDLE_GONE = new Set(['CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID']);
const FIND_BATCH = 100;

/**
 * Tenants' TKEKs held in the HSM token of the master key (CONFIDE_TENANT_KEY_STORE=pkcs11): each an
 * AES-256 token object generated inside the token, sensitive and never extractable, labelled
 * `confide-tkek-<tenant id>`. Data keys are wrapped and unwrapped inside the token with
 * CKM_AES_GCM and the slot's AAD, in the same `w1.A256GCM.` form as every other wrapping, so a
 * TKEK's bytes never enter this process, and every node that reaches the (network) HSM shares them
 * without a shared directory. Deleting a tenant destroys its object (C_DestroyObject) after leaving
 * a tombstone in the token: a data object `confide-tkek-deleted-<tenant id>` holding the time. Like
 * the file store's tombstone it lives outside the database, so a restored copy cannot undo it, and
 * unlike a file it is seen by every node.
 *
 * A token has no "create unless it exists": two nodes adopting the same tenant at the same moment
 * can each generate a key under its label. Both are kept (either may have wrapped a data key
 * already): new wrappings use the one with the lowest CKA_ID (a random id set at generation, the
 * same choice on every node), unwrapping tries each, since GCM's tag tells which one wrapped.
 *
 * Calls are synchronous on a session of the store's own (like the master key's, in the same
 * process-wide module); object handles are cached per tenant, found by label once.
 */
export class Pkcs11TenantKeyStore implements TenantKeyStore {
  readonly kind = 'pkcs11';
  readonly description: string;
  private readonly handles = new Map<string, Handle[]>();
  private readonly deleted = new Map<string, string>();

  private constructor(
    private readonly library: Pkcs11Library,
    private readonly session: Handle,
    private readonly release: () => void,
    tokenLabel: string,
  ) {
    this.description = `PKCS#11 token "${tokenLabel}" (tenant keys)`;
  }

  /** On the token of CONFIDE_PKCS11_*; a wrong PIN or a missing token is a one-line Pkcs11KeyError. */
  static open(settings: Pkcs11Settings): Pkcs11TenantKeyStore {
    const { library, session, close } = openTokenSession(settings);
    return new Pkcs11TenantKeyStore(library, session, close, settings.tokenLabel);
  }

  wrapperOf(tenantId: string, { create = false }: { create?: boolean } = {}): KeyWrapper {
    this.keysOf(tenantId, create); // refused now, not at the first use, when deleted or missing
    return {
      wrap: (key, aad) => this.withKeys(tenantId, (keys) => tokenGcmWrapper(this.library, this.session, keys[0]!).wrap(key, aad)),
      unwrap: (wrapped, aad) =>
        this.withKeys(tenantId, (keys) => {
          for (const [index, key] of keys.entries()) {
            try {
              return tokenGcmWrapper(this.library, this.session, key).unwrap(wrapped, aad);
            } catch (error) {
              if (!(error instanceof DecryptionError) || index === keys.length - 1) throw error;
            }
          }
          throw new DecryptionError();
        }),
    };
  }

  destroy(tenantId: string, deletedAt: string): boolean {
    if (this.deletedAt(tenantId) === null) {
      this.library.C_CreateObject(this.session, [
        { type: this.P.CKA_CLASS, value: this.P.CKO_DATA },
        { type: this.P.CKA_TOKEN, value: true },
        { type: this.P.CKA_PRIVATE, value: true }, // seen and touched only after login
        { type: this.P.CKA_MODIFIABLE, value: false },
        { type: this.P.CKA_LABEL, value: `${TOMBSTONE_LABEL}${safe(tenantId)}` },
        { type: this.P.CKA_APPLICATION, value: APPLICATION },
        { type: this.P.CKA_VALUE, value: Buffer.from(JSON.stringify({ tenantId, deletedAt }), 'utf8') },
      ]);
      this.deleted.set(tenantId, deletedAt);
    }
    return this.discard(tenantId);
  }

  deletedAt(tenantId: string): string | null {
    const known = this.deleted.get(tenantId);
    if (known !== undefined) return known;
    const [found] = this.find(this.tombstoneTemplate(`${TOMBSTONE_LABEL}${safe(tenantId)}`), 1);
    if (!found) return null; // not cached: another node may delete the tenant later
    const at = this.tombstoneOf(found).deletedAt;
    this.deleted.set(tenantId, at); // a tombstone is for good
    return at;
  }

  tombstones(): Array<{ tenantId: string; deletedAt: string }> {
    return this.find(this.tombstoneTemplate(), Number.POSITIVE_INFINITY)
      .filter((handle) => this.labelOf(handle).startsWith(TOMBSTONE_LABEL))
      .map((handle) => this.tombstoneOf(handle));
  }

  discard(tenantId: string): boolean {
    this.handles.delete(tenantId);
    const found = this.find(this.keyTemplate(tenantId), Number.POSITIVE_INFINITY);
    for (const handle of found) this.library.C_DestroyObject(this.session, handle);
    return found.length > 0;
  }

  // The TKEKs are not wrapped under the master key: rotating or migrating it leaves them be.
  rewrapAll(): number {
    return 0;
  }

  keepOnly(): number {
    return 0;
  }

  close(): void {
    this.handles.clear();
    this.release();
  }

  private get P() {
    return pkcs11js();
  }

  /** The tenant's key objects, lowest CKA_ID first; generated when `create` and there is none. */
  private keysOf(tenantId: string, create: boolean): Handle[] {
    const cached = this.handles.get(tenantId);
    if (cached) return cached;
    let found = this.find(this.keyTemplate(tenantId), Number.POSITIVE_INFINITY);
    if (found.length === 0) {
      if (this.deletedAt(tenantId) !== null) throw tenantKeyUnavailable(tenantId);
      if (!create) {
        throw new Error(`${this.description} holds no key for tenant ${tenantId}: CONFIDE_TENANT_KEY_STORE must name the store that holds them (moving them is \`confide keys migrate-tenant-keys\`)`);
      }
      found = [this.generate(tenantId)];
    }
    const ordered = found.map((handle) => ({ handle, id: this.idOf(handle) })).sort((a, b) => Buffer.compare(a.id, b.id)).map((entry) => entry.handle);
    this.handles.set(tenantId, ordered);
    return ordered;
  }

  /** Runs `work` on the cached handles; once more on fresh ones if another node destroyed them meanwhile. */
  private withKeys<T>(tenantId: string, work: (keys: Handle[]) => T): T {
    try {
      return work(this.keysOf(tenantId, false));
    } catch (error) {
      if (!HANDLE_GONE.has((error as Error).message)) throw error;
      this.handles.delete(tenantId);
      return work(this.keysOf(tenantId, false));
    }
  }

  /** A TKEK made inside the token: AES-256, on the token, private, sensitive, never extractable. */
  private generate(tenantId: string): Handle {
    const P = this.P;
    return this.library.C_GenerateKey(this.session, { mechanism: P.CKM_AES_KEY_GEN }, tokenAesKeyTemplate(`${KEY_LABEL}${safe(tenantId)}`, randomBytes(16)));
  }

  private keyTemplate(tenantId: string): Template {
    return [
      { type: this.P.CKA_CLASS, value: this.P.CKO_SECRET_KEY },
      { type: this.P.CKA_KEY_TYPE, value: this.P.CKK_AES },
      { type: this.P.CKA_LABEL, value: `${KEY_LABEL}${safe(tenantId)}` },
    ];
  }

  private tombstoneTemplate(label?: string): Template {
    const template: Template = [
      { type: this.P.CKA_CLASS, value: this.P.CKO_DATA },
      { type: this.P.CKA_APPLICATION, value: APPLICATION },
    ];
    return label === undefined ? template : [...template, { type: this.P.CKA_LABEL, value: label }];
  }

  private find(template: Template, limit: number): Handle[] {
    this.library.C_FindObjectsInit(this.session, template);
    try {
      const found: Handle[] = [];
      for (;;) {
        const batch = this.library.C_FindObjects(this.session, Math.min(FIND_BATCH, limit - found.length));
        found.push(...batch);
        if (batch.length === 0 || found.length >= limit) return found;
      }
    } finally {
      this.library.C_FindObjectsFinal(this.session);
    }
  }

  private attribute(handle: Handle, type: number): Buffer {
    const [attribute] = this.library.C_GetAttributeValue(this.session, handle, [{ type }]);
    return Buffer.isBuffer(attribute?.value) ? attribute.value : Buffer.alloc(0);
  }

  private idOf(handle: Handle): Buffer {
    return this.attribute(handle, this.P.CKA_ID);
  }

  private labelOf(handle: Handle): string {
    return this.attribute(handle, this.P.CKA_LABEL).toString('utf8');
  }

  private tombstoneOf(handle: Handle): { tenantId: string; deletedAt: string } {
    const { tenantId, deletedAt } = JSON.parse(this.attribute(handle, this.P.CKA_VALUE).toString('utf8')) as { tenantId: string; deletedAt: string };
    return { tenantId, deletedAt };
  }
}

function safe(tenantId: string): string {
  if (!SAFE_ID.test(tenantId)) throw new Error('not a tenant id');
  return tenantId;
}

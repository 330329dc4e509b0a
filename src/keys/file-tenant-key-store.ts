import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { newAes256Key } from '../lib/aes-gcm.js';
import { checkPrivateFile, ensurePrivateDirectory, writePrivateFile } from '../lib/private-path.js';
import { renameDurably, syncToDisk } from './durable-file.js';
import type { MasterKey } from './master-key.js';
import { kekWrapper, tenantKekAad, tenantKeyUnavailable, type KeyWrapper, type TenantKeyStore } from './tenant-key-store.js';

const FORMAT = 'confide-tenant-kek/1';
const KEY_SUFFIX = '.kek';
const TOMBSTONE_SUFFIX = '.deleted';
// Tenant ids are UUIDs: anything else (a path, `..`) never becomes a file name.
const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A TKEK file: the key wrapped under one master key, or two during a master key switch. */
interface KekFile {
  format: typeof FORMAT;
  tenantId: string;
  wrapped: Array<{ masterKeyId: string; key: string }>;
}

/**
 * Tenants' TKEKs as files in a directory of their own (mode 0700, each file 0600), by default
 * beside the master key file and outside the data directory, so that a backup of the data directory
 * or of the database does not carry them. Every node of a PostgreSQL deployment must see the same
 * directory (a shared mount): a node that cannot find a tenant's TKEK cannot read that tenant.
 *
 * Writes are durable before anything relies on them: a new file is written under a temporary name,
 * flushed, then linked to its name (link, unlike rename, refuses to replace a key another node has
 * just made) and the directory flushed. Destroying unlinks the file and flushes the directory;
 * overwriting it first would buy nothing on journalling or copy-on-write file systems and SSDs,
 * which write new blocks elsewhere anyway.
 */
export class FileTenantKeyStore implements TenantKeyStore {
  readonly kind = 'file';
  readonly description: string;

  constructor(
    private readonly dir: string,
    private readonly masterKey: MasterKey,
  ) {
    this.description = `tenant key directory ${dir}`;
    ensurePrivateDirectory(dir, 'tenant key directory');
  }

  wrapperOf(tenantId: string, options: { create?: boolean } = {}): KeyWrapper {
    return kekWrapper(this.keyOf(tenantId, options));
  }

  /** The TKEK's bytes: a file store's TKEK is unwrapped in this process (the HSM store's never is). */
  keyOf(tenantId: string, { create = false }: { create?: boolean } = {}): Buffer {
    const file = this.keyFile(tenantId);
    const existing = this.read(file);
    if (existing) return this.unwrap(existing);
    if (this.deletedAt(tenantId) !== null) throw tenantKeyUnavailable(tenantId);
    if (!create) {
      // Not deleted here, yet missing: most likely a node whose directory is not the shared one.
      throw new Error(`${this.description} holds no key for tenant ${tenantId}; every node must use the same directory (CONFIDE_TENANT_KEY_DIR)`);
    }
    const kek = newAes256Key();
    const content: KekFile = { format: FORMAT, tenantId, wrapped: [{ masterKeyId: this.masterKey.id, key: this.masterKey.wrap(kek, tenantKekAad(tenantId)) }] };
    const temporary = this.writeTemporary(file, content);
    try {
      linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return this.unwrap(this.read(file)!); // another node made it first: everyone uses that one
    } finally {
      unlinkSync(temporary);
    }
    syncToDisk(this.dir);
    return kek;
  }

  destroy(tenantId: string, deletedAt: string): boolean {
    const file = this.keyFile(tenantId);
    const tombstone = `${this.path(tenantId)}${TOMBSTONE_SUFFIX}`;
    renameDurably(this.writeTemporary(tombstone, { tenantId, deletedAt }), tombstone);
    if (!existsSync(file)) return false;
    unlinkSync(file);
    syncToDisk(this.dir);
    return true;
  }

  deletedAt(tenantId: string): string | null {
    const tombstone = `${this.path(tenantId)}${TOMBSTONE_SUFFIX}`;
    if (!existsSync(tombstone)) return null;
    return (JSON.parse(readFileSync(tombstone, 'utf8')) as { deletedAt: string }).deletedAt;
  }

  tombstones(): Array<{ tenantId: string; deletedAt: string }> {
    return readdirSync(this.dir)
      .filter((name) => name.endsWith(TOMBSTONE_SUFFIX))
      .map((name) => name.slice(0, -TOMBSTONE_SUFFIX.length))
      .map((tenantId) => ({ tenantId, deletedAt: this.deletedAt(tenantId)! }));
  }

  discard(tenantId: string): boolean {
    const file = this.keyFile(tenantId);
    if (!existsSync(file)) return false;
    unlinkSync(file);
    syncToDisk(this.dir);
    return true;
  }

  close(): void {
    // Nothing held between calls: every call reads the file it needs.
  }

  rewrapAll(current: MasterKey, next: MasterKey): number {
    return this.rewriteEach((content) => {
      const kek = unwrapWith(current, content);
      const kept = content.wrapped.filter((w) => w.masterKeyId !== next.id);
      return { ...content, wrapped: [...kept, { masterKeyId: next.id, key: next.wrap(kek, tenantKekAad(content.tenantId)) }] };
    });
  }

  keepOnly(masterKeyId: string): number {
    return this.rewriteEach((content) => {
      if (!content.wrapped.some((w) => w.masterKeyId === masterKeyId)) throw new Error(`${this.description}: ${content.tenantId} has no key wrapped by master key ${masterKeyId}`);
      return content.wrapped.length === 1 ? null : { ...content, wrapped: content.wrapped.filter((w) => w.masterKeyId === masterKeyId) };
    });
  }

  private rewriteEach(change: (content: KekFile) => KekFile | null): number {
    let changed = 0;
    for (const name of readdirSync(this.dir).filter((n) => n.endsWith(KEY_SUFFIX))) {
      const file = join(this.dir, name);
      const content = this.read(file);
      if (!content) continue; // its tenant was deleted since the listing
      const next = change(content);
      if (!next) continue;
      renameDurably(this.writeTemporary(file, next), file);
      // A node that deleted the tenant meanwhile wrote its tombstone before removing the file: if the
      // rename above put the file back after that removal, the tombstone is there now. Shredded stays shredded.
      if (this.deletedAt(content.tenantId) !== null) {
        unlinkSync(file);
        syncToDisk(this.dir);
        continue;
      }
      changed += 1;
    }
    return changed;
  }

  private unwrap(content: KekFile): Buffer {
    return unwrapWith(this.masterKey, content);
  }

  private read(file: string): KekFile | undefined {
    try {
      checkPrivateFile(file, 'tenant key file');
      const content = JSON.parse(readFileSync(file, 'utf8')) as KekFile;
      if (content.format !== FORMAT) throw new Error(`${file} is not a Confide tenant key file`);
      return content;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Writes `content` under a temporary name beside `file` and flushes it; the caller links or renames it into place. */
  private writeTemporary(file: string, content: object): string {
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    writePrivateFile(temporary, `${JSON.stringify(content)}\n`, 'wx');
    syncToDisk(temporary);
    return temporary;
  }

  private path(tenantId: string): string {
    if (!SAFE_ID.test(tenantId)) throw new Error('not a tenant id');
    return join(this.dir, tenantId);
  }

  private keyFile(tenantId: string): string {
    return `${this.path(tenantId)}${KEY_SUFFIX}`;
  }
}

function unwrapWith(masterKey: MasterKey, content: KekFile): Buffer {
  const wrapping = content.wrapped.find((w) => w.masterKeyId === masterKey.id);
  if (!wrapping) throw new Error(`the tenant key of ${content.tenantId} is not wrapped by the ${masterKey.description} (master key ${masterKey.id})`);
  return masterKey.unwrap(wrapping.key, tenantKekAad(content.tenantId));
}

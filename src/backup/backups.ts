export type { BackupListing } from './backup-listing.js';
import type { SecurityEventActor } from '../core/security-events.js';
import { encodeHeader } from './archive-header.js';
import { listBackups, newestBackup, reasonOf, type BackupListing } from './backup-listing.js';
import { unwrapBackupKey } from './archive-reader.js';
import { createBackup, rowsOf } from './backup-create.js';
import { archiveName, manifestName, verifiedName, type BackupManifest, type VerifiedMarker } from './backup-manifest.js';
import { verifyBackup, type VerifyResult } from './backup-verify.js';
import type { BackupsDeps } from './backups-deps.js';
import { putSealed, readSealed } from './sealed-object.js';
import { shredTenantKeyObject } from './tenant-key-objects.js';

/** Who acts: `system` for the schedule, `host:<user>` for the CLI. */
export type BackupActor = 'system' | `host:${string}`;

const eventActor = (actor: BackupActor): SecurityEventActor => ({ type: 'system', id: actor });

/**
 * Backups of this deployment at its target (CONFIDE_BACKUP_TARGET): what the CLI and the schedule
 * call. Each operation records its security event. Restore is not here: it runs on a deployment
 * that does not exist yet (backup-restore.ts, through the CLI).
 */
export class Backups {
  constructor(private readonly deps: BackupsDeps) {}

  get target(): string {
    return this.deps.store.description;
  }

  async create({ actor }: { actor: BackupActor }): Promise<{ id: string; manifest: BackupManifest }> {
    const started = Date.now();
    try {
      const manifest = await createBackup(this.deps);
      const details = { id: manifest.id, bytes: manifest.archive!.bytes, tenants: manifest.tenants, rows: rowsOf(manifest), files: manifest.files.count, durationMs: Date.now() - started, target: this.target };
      this.deps.securityEvents.record({ type: 'backup.created', outcome: 'success', actor: eventActor(actor), details });
      return { id: manifest.id, manifest };
    } catch (error) {
      this.deps.securityEvents.record({ type: 'backup.failed', outcome: 'failure', actor: eventActor(actor), details: { reason: reasonOf(error), target: this.target } });
      throw error;
    }
  }

  /** Every backup at the target, oldest first, with its manifest's counts and whether it was verified. */
  list(): Promise<BackupListing[]> {
    return listBackups(this.deps.store, this.deps.masterKey);
  }

  /**
   * Restores into a scratch place and checks it; a pass writes the `.verified` marker. A verification
   * that cannot run to its end (no room for the scratch copy, the marker not written) is a failed one,
   * recorded as such: the backup-failed alert must hear of it.
   */
  async verify(id: string, { actor }: { actor: BackupActor }): Promise<VerifyResult> {
    const started = Date.now();
    let result: VerifyResult;
    try {
      result = await verifyBackup(this.deps, id);
      if (result.ok) await this.markVerified(id);
    } catch (error) {
      const problem = `verification: ${reasonOf(error)}`;
      result = { id, ok: false, checks: [{ name: 'verification', ok: false, detail: reasonOf(error) }], problems: [problem] };
    }
    this.deps.securityEvents.record(
      result.ok
        ? { type: 'backup.verified', outcome: 'success', actor: eventActor(actor), details: { id, durationMs: Date.now() - started } }
        : { type: 'backup.verificationFailed', outcome: 'failure', actor: eventActor(actor), details: { id, problems: result.problems } },
    );
    return result;
  }

  /** The marker names the archive's sha256 from the manifest, which the verification found equal to the archive's. */
  private async markVerified(id: string): Promise<void> {
    const sealed = await readSealed(this.deps.store, manifestName(id));
    const key = unwrapBackupKey(sealed.header, this.deps.masterKey);
    const { archive } = sealed.open<BackupManifest>(key, 'manifest');
    const marker: VerifiedMarker = { id, verifiedAt: this.deps.clock.now().toISOString(), node: this.deps.node, archiveSha256: archive!.sha256 };
    await putSealed(this.deps.store, verifiedName(id), encodeHeader(sealed.header), key, 'verified', marker);
  }

  /** The newest backup whose manifest opens and names its archive, or null. */
  newest(): Promise<string | null> {
    return newestBackup(this.deps.store, this.deps.masterKey);
  }

  /** Removes backups older than the retention, never the newest verified one. Returns the ids removed. */
  async prune(retentionSeconds: number, now: Date, { actor = 'system' }: { actor?: BackupActor } = {}): Promise<string[]> {
    const listings = await this.list();
    const keep = listings.filter((b) => b.verified).at(-1)?.id;
    const cutoff = now.getTime() - retentionSeconds * 1000;
    const removed: string[] = [];
    for (const backup of listings) {
      if (backup.id === keep || createdAtOf(backup.id) >= cutoff) continue;
      for (const name of [verifiedName(backup.id), manifestName(backup.id), archiveName(backup.id)]) await this.deps.store.remove(name);
      removed.push(backup.id);
    }
    if (removed.length > 0) this.deps.securityEvents.record({ type: 'backup.pruned', outcome: 'success', actor: eventActor(actor), details: { ids: removed } });
    return removed;
  }

  /** A tenant was deleted: its key object at the target goes at once (best effort: the next backup retries). */
  async tenantDeleted(tenantId: string, deletedAt: string): Promise<void> {
    if (this.deps.config.tenantKeyStore !== 'file') return;
    await shredTenantKeyObject(this.deps.store, tenantId, deletedAt);
  }
}

/** The time in a backup id (`YYYYMMDDTHHMMSSZ-…`), in ms. */
function createdAtOf(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id)!;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

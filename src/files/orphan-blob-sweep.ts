import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import { WorkerLease } from '../monitoring/worker-lease.js';
import type { BlobStore, IncompleteBlob, StoredBlob } from './blob-store.js';
import { claimName, claimsOf, expireClaim } from './upload-claims.js';

const HOUR_MS = 3_600_000;
/** A blob younger than this may belong to an upload whose row is about to commit: never touched. */
export const ORPHAN_GRACE_SECONDS = 3600;
const BATCH = 500;

export interface OrphanSweepDeps {
  db: Kysely<DB>;
  clock: Clock;
  fileBlobs: BlobStore;
}

/**
 * Removes blobs no `record_files` row names: left by a crash between writing a blob and committing
 * its row, or by a delete whose blob removal failed. Such a blob opens under no key held anywhere,
 * but it costs space and, on S3, money. It also aborts S3 multipart uploads a crash cut short.
 * The sweep runs on one node at a time, under the `file-orphan-sweep` lease, hourly.
 *
 * An upload in flight is known, not guessed from timestamps: it claims its blob's name before
 * writing (src/files/upload-claims.ts) and ends the claim in the transaction that inserts the row
 * naming the blob. A claimed blob is skipped; a claim older than UPLOAD_CLAIM_SECONDS (app clock
 * against app clock) is taken over by deleting it, which an upload still running would then find
 * at its commit and refuse. Whether a row names the blob is asked again after the claims are read,
 * so an upload that committed meanwhile (claim gone, row there) keeps its blob. The storage's own
 * timestamps (file mtime, S3 LastModified, which for a multipart upload is its start) only
 * narrow the work: blobs younger than ORPHAN_GRACE_SECONDS by them are left for a later sweep.
 */
export class OrphanBlobSweep {
  private timer: NodeJS.Timeout | undefined;
  private readonly lease: WorkerLease;

  constructor(
    private readonly deps: OrphanSweepDeps,
    options: { holder: string; onError: (error: unknown) => void; onRemoved?: (count: number) => void },
  ) {
    this.lease = new WorkerLease(deps.db, 'file-orphan-sweep', options.holder, 2 * 3600);
    this.onError = options.onError;
    this.onRemoved = options.onRemoved ?? (() => undefined);
  }

  private readonly onError: (error: unknown) => void;
  private readonly onRemoved: (count: number) => void;

  start(intervalMs = HOUR_MS): void {
    this.timer = setInterval(() => void this.runOnce().catch(this.onError), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.lease.release(this.deps.clock.now()).catch(() => undefined);
  }

  /** One sweep: the number of blobs removed and writes aborted, or null when another node holds the lease. */
  async runOnce(): Promise<number | null> {
    const { fileBlobs, clock } = this.deps;
    if (!fileBlobs.blobs || !(await this.lease.acquire(clock.now()))) return null;
    const cutoff = clock.now().getTime() - ORPHAN_GRACE_SECONDS * 1000;
    let removed = 0;
    let batch: StoredBlob[] = [];
    // The listing is consumed as it comes (page by page on S3), never held whole.
    for await (const blob of fileBlobs.blobs()) {
      if (blob.modifiedAt.getTime() >= cutoff) continue;
      batch.push(blob);
      if (batch.length === BATCH) {
        removed += await this.removeUnnamed(batch);
        batch = [];
      }
    }
    removed += await this.removeUnnamed(batch);
    removed += await this.abortIncomplete(cutoff);
    if (removed > 0) this.onRemoved(removed);
    return removed;
  }

  /** Removes those of `blobs` that no row names and no live upload claims. */
  private async removeUnnamed(blobs: StoredBlob[]): Promise<number> {
    const unclaimed = await this.unclaimed(await this.unnamed(blobs));
    // Asked again after the claims: an upload that committed since the first question (its claim
    // gone with its row's insert, in one transaction) is named now.
    let removed = 0;
    for (const blob of await this.unnamed(unclaimed)) {
      await this.deps.fileBlobs.remove(blob.tenantId, blob.storageId);
      removed += 1;
    }
    return removed;
  }

  private async unnamed<B extends StoredBlob>(blobs: B[]): Promise<B[]> {
    if (blobs.length === 0) return [];
    const named = await this.deps.db
      .selectFrom('record_files')
      .select(['tenant_id', 'storage_id'])
      .where('storage_id', 'in', blobs.map((blob) => blob.storageId))
      .execute();
    const kept = new Set(named.map((row) => `${row.tenant_id}/${row.storage_id}`));
    return blobs.filter((blob) => !kept.has(`${blob.tenantId}/${blob.storageId}`));
  }

  /** Those of `blobs` no upload claims; a claim that ran out is taken over (deleted) first. */
  private async unclaimed<B extends StoredBlob>(blobs: B[]): Promise<B[]> {
    const now = this.deps.clock.now();
    const nameOf = (blob: StoredBlob) => claimName(blob.tenantId, blob.storageId.replace(/\.partial$/, ''));
    const claims = await claimsOf(this.deps.db, blobs.map(nameOf));
    const free: B[] = [];
    for (const blob of blobs) {
      const expires = claims.get(nameOf(blob));
      if (expires === undefined || (expires < now.toISOString() && (await expireClaim(this.deps.db, nameOf(blob), now)))) free.push(blob);
    }
    return free;
  }

  /** Aborts writes a crash cut short (S3 multipart uploads) that no live upload claims. */
  private async abortIncomplete(cutoff: number): Promise<number> {
    const { fileBlobs } = this.deps;
    if (!fileBlobs.incompleteBlobs) return 0;
    let aborted = 0;
    let batch: IncompleteBlob[] = [];
    const abortBatch = async () => {
      for (const blob of await this.unclaimed(batch)) {
        await blob.abort();
        aborted += 1;
      }
      batch = [];
    };
    for await (const blob of fileBlobs.incompleteBlobs()) {
      if (blob.modifiedAt.getTime() >= cutoff) continue;
      batch.push(blob);
      if (batch.length === BATCH) await abortBatch();
    }
    await abortBatch();
    return aborted;
  }
}

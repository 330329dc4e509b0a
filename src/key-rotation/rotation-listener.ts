import { join } from 'node:path';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { resealOutboxBatch } from './outbox-walk.js';
import type { RotationDeps } from './rotation-deps.js';

const HOUR_MS = 3_600_000;

/**
 * How a node learns of rotations made elsewhere (another node, the CLI): it reads key_rotations
 * and drops its cached keys of every owner rotated since it last looked, so it seals with the new
 * version from then on; it tells the key ring's KeySync (src/keys/key-sync.ts) when it has looked.
 * It runs on a timer of its own (a long re-encryption job on this node must not stop it) and when
 * a request finds the node behind. A rotation counts as seen only once its keys were dropped, so a
 * failed reload is tried again at the next poll, and the node is not reported fresh meanwhile.
 */
export class RotationListener {
  private readonly seen = new Set<string>();
  /** When this node last read key_rotations (its clock), so a node whose polls failed for long looks back far enough. */
  private lastPolledAt: number | undefined;
  /** A system rotation was seen: this node's own mail outbox is to be re-sealed (by the worker, not on a request's path). */
  private outboxResealDue = false;

  constructor(private readonly deps: Pick<RotationDeps, 'db' | 'keyRing' | 'clock' | 'config'>) {}

  /**
   * Jobs of the last hour, finished or not (one that finished fast must still be seen by a node that
   * missed it running), and every job since this node's last poll, should that be longer ago.
   */
  async poll(): Promise<void> {
    const startedAt = performance.now();
    const now = this.deps.clock.now().getTime();
    const since = new Date(Math.min(now - HOUR_MS, (this.lastPolledAt ?? now) - 60_000)).toISOString();
    const recent = await this.deps.db.selectFrom('key_rotations').select(['id', 'owner']).where('started_at', '>=', since).execute();
    for (const job of recent) {
      if (this.seen.has(job.id)) continue;
      await this.deps.keyRing.forget(job.owner);
      this.seen.add(job.id);
      if (job.owner === SYSTEM_OWNER) this.outboxResealDue = true;
    }
    this.lastPolledAt = now;
    this.deps.keyRing.sync.synced(startedAt);
  }

  /**
   * Re-seals this node's own mail outbox after a system rotation (it is under this node's data
   * directory: no job on another node walks it). Kept due until it succeeds.
   */
  resealOwnOutbox(): void {
    if (!this.outboxResealDue) return;
    const dir = join(this.deps.config.dataDir, 'outbox');
    const cipher = this.deps.keyRing.systemCipher();
    for (let after: string | null = null; ; ) {
      const batch = resealOutboxBatch(dir, cipher, after, 500);
      if (batch.last === null) break;
      after = batch.last;
    }
    this.outboxResealDue = false;
  }
}

import { WorkerLease } from '../monitoring/worker-lease.js';
import { ReencryptionJob, type JobOutcome } from './reencryption-job.js';
import { rotateKey, tenantsDueForRotation } from './rotate-key.js';
import type { RotationDeps } from './rotation-deps.js';
import { runningJobs } from './rotation-jobs.js';

/** How often each node looks for new rotations (to drop its cached keys) and for jobs to run. */
export const POLL_MS = 2_000;
/** Old versions are destroyed no sooner than this after the rotation: every node has polled twice by then. */
export const DESTROY_GRACE_MS = 3 * POLL_MS;
/** The lease is renewed before every batch; a node that dies hands over once it expires. */
const LEASE_SECONDS = 15;
const SCHEDULE_EVERY_MS = 3_600_000;

export interface ReencryptionWorkerOptions {
  /** This node's id for the lease. */
  holder: string;
  onError: (error: unknown) => void;
  graceMs?: number;
}

/**
 * The background side of key rotation, on every node: it learns of rotations made elsewhere (and
 * drops its cached keys of that owner, so it seals with the new version), and under the
 * `key-reencryption` lease (one node at a time) it runs the jobs and, with CONFIDE_KEY_ROTATION_DAYS,
 * rotates the tenants whose key is due.
 */
export class ReencryptionWorker {
  private readonly lease: WorkerLease;
  private readonly job: ReencryptionJob;
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private lastSchedule = 0;

  constructor(
    private readonly deps: RotationDeps,
    private readonly options: ReencryptionWorkerOptions,
  ) {
    const ttl = Math.max(LEASE_SECONDS, Math.ceil((3 * deps.config.keyRotation.reencryptPauseMs) / 1000));
    this.lease = new WorkerLease(deps.db, 'key-reencryption', options.holder, ttl);
    this.job = new ReencryptionJob(deps, {
      batch: deps.config.keyRotation.reencryptBatch,
      pauseMs: deps.config.keyRotation.reencryptPauseMs,
      graceMs: options.graceMs ?? DESTROY_GRACE_MS,
      keepGoing: async () => !this.stopping && (await this.lease.acquire(deps.clock.now())),
    });
  }

  start(): void {
    this.stopping = false;
    const tick = () => {
      this.running = this.runOnce()
        .then(() => undefined, this.options.onError)
        .finally(() => {
          if (!this.stopping) this.timer = setTimeout(tick, POLL_MS);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    await this.lease.release(this.deps.clock.now()).catch(this.options.onError);
  }

  /** One round: forget keys of owners rotated since the last round, rotate what is due, run the jobs. Tests call it by hand. */
  async runOnce(): Promise<Array<JobOutcome | 'failed'>> {
    await this.learnOfRotations();
    const jobs = await runningJobs(this.deps.db);
    const outcomes: Array<JobOutcome | 'failed'> = [];
    if (!(await this.scheduleDue()) && jobs.length === 0) return outcomes;
    if (!(await this.lease.acquire(this.deps.clock.now()))) return outcomes;
    for (const job of await runningJobs(this.deps.db)) {
      if (this.stopping) break;
      // One job that fails (a value that does not open, an owner whose keys are gone) must not hold up the others.
      outcomes.push(await this.job.run(job).catch((error: unknown) => (this.options.onError(error), 'failed' as const)));
    }
    return outcomes;
  }

  /**
   * Drops the cached keys of every owner rotated lately that this node has not yet seen, so it
   * seals with the new version within one poll. Jobs of the last hour, finished or not: one that
   * finished fast must still be seen by a node that missed it running.
   */
  private async learnOfRotations(): Promise<void> {
    const since = new Date(this.deps.clock.now().getTime() - 3_600_000).toISOString();
    const recent = await this.deps.db.selectFrom('key_rotations').select(['id', 'owner']).where('started_at', '>=', since).execute();
    for (const job of recent) {
      if (this.seen.has(job.id)) continue;
      this.seen.add(job.id);
      await this.deps.keyRing.forget(job.owner);
    }
  }

  /** CONFIDE_KEY_ROTATION_DAYS: rotates (at most hourly, under the lease) every tenant whose active key is older. True if it rotated any. */
  private async scheduleDue(): Promise<boolean> {
    const days = this.deps.config.keyRotation.rotationDays;
    const now = this.deps.clock.now().getTime();
    if (days === null || now - this.lastSchedule < SCHEDULE_EVERY_MS) return false;
    if (!(await this.lease.acquire(this.deps.clock.now()))) return false;
    this.lastSchedule = now;
    const due = await tenantsDueForRotation(this.deps, days);
    for (const owner of due) {
      await rotateKey(this.deps, owner, { actor: { type: 'system', id: 'key-rotation-schedule' }, requestedBy: 'system' });
    }
    return due.length > 0;
  }
}

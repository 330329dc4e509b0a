import { KEYS_MAX_STALE_MS } from '../keys/key-sync.js';
import { WorkerLease } from '../monitoring/worker-lease.js';
import { RotationListener } from './rotation-listener.js';
import { ReencryptionJob, type JobOutcome } from './reencryption-job.js';
import { rotateKey, tenantsDueForRotation } from './rotate-key.js';
import type { RotationDeps } from './rotation-deps.js';
import { runningJobs } from './rotation-jobs.js';

/** How often each node looks for new rotations (to drop its cached keys) and for jobs to run. */
export const POLL_MS = 2_000;
/**
 * Old versions are destroyed no sooner than this after the rotation: longer than any serving node
 * seals without having polled (KEYS_MAX_STALE_MS, src/keys/key-sync.ts), so by then every node that
 * seals has seen the rotation and seals with the new version.
 */
export const DESTROY_GRACE_MS = KEYS_MAX_STALE_MS + POLL_MS;
/** The lease is renewed before every batch; a node that dies hands over once it expires. */
const LEASE_SECONDS = 15;
const SCHEDULE_EVERY_MS = 3_600_000;
/** Owners given their `next` key version per round (those made before versions were made ahead). */
const NEXT_VERSIONS_PER_ROUND = 200;

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
  private readonly listener: RotationListener;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private lastSchedule = 0;
  /** Every owner has its `next` version (checked once per process: new owners are made with one). */
  private nextVersionsReady = false;
  private readonly nextVersionFailures = new Set<string>();

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
    this.listener = new RotationListener(deps);
    deps.keyRing.sync.attach(() => this.listener.poll());
  }

  start(): void {
    this.stopping = false;
    // Learning of rotations has a timer of its own: a long job in runOnce must not hold it up.
    this.pollTimer = setInterval(() => void this.deps.keyRing.sync.pollNow().catch(this.options.onError), POLL_MS);
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
    clearInterval(this.pollTimer);
    await this.running;
    await this.lease.release(this.deps.clock.now()).catch(this.options.onError);
  }

  /** One round: forget keys of owners rotated since the last round, rotate what is due, run the jobs. Tests call it by hand. */
  async runOnce(): Promise<Array<JobOutcome | 'failed'>> {
    await this.deps.keyRing.sync.pollNow();
    this.listener.resealOwnOutbox();
    const jobs = await runningJobs(this.deps.db);
    const outcomes: Array<JobOutcome | 'failed'> = [];
    await this.prepareNextVersions();
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
   * Gives owners made before key versions were made ahead (src/keys/key-ring.ts) their `next`
   * version, a batch per round under the lease, until none is left; an owner whose keys cannot be
   * read (its tenant key is gone) is reported once and skipped.
   */
  private async prepareNextVersions(): Promise<void> {
    if (this.nextVersionsReady) return;
    // Read-only first: every node finds out there is nothing to do without taking the lease.
    if ((await this.deps.keyRing.ownersWithoutNext(this.nextVersionFailures.size + 1)).every((owner) => this.nextVersionFailures.has(owner))) {
      this.nextVersionsReady = true;
      return;
    }
    if (!(await this.lease.acquire(this.deps.clock.now()))) return;
    const owners = (await this.deps.keyRing.ownersWithoutNext(NEXT_VERSIONS_PER_ROUND + this.nextVersionFailures.size)).filter((owner) => !this.nextVersionFailures.has(owner));
    for (const owner of owners.slice(0, NEXT_VERSIONS_PER_ROUND)) {
      if (this.stopping) return;
      await this.deps.keyRing.ensureNext(owner).catch((error: unknown) => {
        this.nextVersionFailures.add(owner);
        this.options.onError(error);
      });
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

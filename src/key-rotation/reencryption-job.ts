import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cipher } from '../keys/cipher.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { columnsOwnedBy, countOutsideVersion, resealBatch } from './column-walk.js';
import { countOutboxOutsideVersion, resealOutboxBatch } from './outbox-walk.js';
import type { RotationDeps } from './rotation-deps.js';
import { checkpointOf, finishJob, jobById, saveCheckpoint, type Checkpoint, type RotationJob } from './rotation-jobs.js';

/** The checkpoint's field once every column (and the outbox) has been walked: what is left is to verify and destroy. */
export const WALK_DONE = 'walk-done';
const OUTBOX_FIELD = 'outboxEml';

/**
 * A batch is CPU work on the process's one event loop (opening and sealing, and SQLite's
 * synchronous statements): after each, the job waits six times as long as it took, so it takes at
 * most a seventh of the loop and requests keep the rest (the bench measures it: with four times, a
 * fifth, reads during a job were at 0.78–0.82 of before, too near the 0.80 the issue asks).
 */
const YIELD_FACTOR = 6;

export interface JobOptions {
  batch: number;
  /** The least pause between batches (and at least YIELD_FACTOR × the batch's time); 0: none, full speed. */
  pauseMs: number;
  /**
   * How long after its rotation a job waits before it destroys the old versions: long enough for
   * every other node to have seen the rotation (their workers poll key_rotations and drop cached
   * keys), so none of them still seals new values with an old version it is about to lose.
   */
  graceMs: number;
  /** Asked before each batch: false stops the job where it is (the worker is stopping, or lost its lease). */
  keepGoing: () => Promise<boolean>;
}

export type JobOutcome = 'done' | 'superseded' | 'stopped' | 'waiting';

/** The order the walk takes: the owner's columns in registry order, then (system key only) the outbox files. */
function walkOrder(owner: string): string[] {
  return [...columnsOwnedBy(owner).map((field) => field.name), ...(owner === SYSTEM_OWNER ? [OUTBOX_FIELD] : [])];
}

/**
 * Runs one rotation's re-encryption from its checkpoint: walks every encrypted field of the owner
 * in batches, each batch and its checkpoint in one transaction (so a crash resumes exactly after
 * the last committed batch), then proves by a scan that no value uses an older version, destroys
 * the retired versions (a security event each) and marks the job done.
 */
export class ReencryptionJob {
  /** When this node first saw each job (its own clock): graceStart. */
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly deps: RotationDeps,
    private readonly options: JobOptions,
  ) {}

  async run(job: RotationJob): Promise<JobOutcome> {
    if (!this.firstSeen.has(job.id)) this.firstSeen.set(job.id, this.deps.clock.now().getTime());
    // Another process (the CLI, another node) may have rotated: read the owner's keys afresh.
    await this.deps.keyRing.forget(job.owner);
    for (let pass = 0; pass < 3; pass += 1) {
      const walked = await this.walk(job, checkpointOf(job));
      if (walked !== 'walked') return walked;
      const waitMs = this.graceStart(job) + this.options.graceMs - this.deps.clock.now().getTime();
      if (waitMs > 0) return 'waiting';
      if ((await this.valuesOutside(job)) === 0) return this.finish(job);
      // A value under an old version appeared behind the walk (a node that had not yet seen the
      // rotation wrote it): walk again from the start rather than destroy a key still in use.
      if (!(await this.deps.transactions.run((trx) => saveCheckpoint(trx, job.id, { field: null, position: null }, 0, this.now())))) return 'superseded';
      job = (await jobById(this.deps.db, job.id))!;
    }
    return 'waiting';
  }

  private async walk(job: RotationJob, from: Checkpoint): Promise<JobOutcome | 'walked'> {
    const order = walkOrder(job.owner);
    const cipher = await this.cipherOf(job.owner);
    let index = from.field === null ? 0 : from.field === WALK_DONE ? order.length : order.indexOf(from.field);
    if (index < 0) index = 0; // a field the registry no longer has: start over, re-sealing is idempotent
    let position = from.field === null ? null : from.position;
    while (index < order.length) {
      if (!(await this.options.keepGoing())) return 'stopped';
      const name = order[index]!;
      const next = order[index + 1] ?? WALK_DONE;
      const started = performance.now();
      const saved = await this.deps.transactions.run(async (trx) => {
        const batch = name === OUTBOX_FIELD ? this.outboxBatch(cipher, position) : await this.columnBatch(trx, job.owner, name, cipher, position);
        const exhausted = batch.read < this.options.batch;
        const checkpoint: Checkpoint = exhausted ? { field: next, position: null } : { field: name, position: batch.last };
        return { ok: await saveCheckpoint(trx, job.id, checkpoint, batch.read, this.now()), checkpoint };
      });
      if (!saved.ok) return 'superseded';
      index = saved.checkpoint.field === WALK_DONE ? order.length : order.indexOf(saved.checkpoint.field!);
      position = saved.checkpoint.position;
      if (this.options.pauseMs > 0) await sleep(Math.max(this.options.pauseMs, YIELD_FACTOR * (performance.now() - started)));
    }
    return 'walked';
  }

  private columnBatch(trx: Parameters<typeof resealBatch>[0], owner: string, name: string, cipher: Cipher, position: unknown[] | null) {
    const field = columnsOwnedBy(owner).find((candidate) => candidate.name === name)!;
    return resealBatch(trx, this.deps.dialect, field, owner, cipher, position, this.options.batch);
  }

  private outboxBatch(cipher: Cipher, position: unknown[] | null): { read: number; last: unknown[] | null } {
    const batch = resealOutboxBatch(this.outboxDir(), cipher, position === null ? null : String(position[0]), this.options.batch);
    return { read: batch.read, last: batch.last === null ? null : [batch.last] };
  }

  /** Values of the owner under any version but the job's: the scan that must find none before a key is destroyed. */
  private async valuesOutside(job: RotationJob): Promise<number> {
    const version = Number(job.to_version);
    let count = 0;
    for (const field of columnsOwnedBy(job.owner)) count += await countOutsideVersion(this.deps.db, field, job.owner, version);
    if (job.owner === SYSTEM_OWNER) count += countOutboxOutsideVersion(this.outboxDir(), version);
    return count;
  }

  private async finish(job: RotationJob): Promise<JobOutcome> {
    const { keyRing, securityEvents } = this.deps;
    const toVersion = Number(job.to_version);
    const retired = (await keyRing.versionsOf(job.owner)).filter((v) => v.state === 'retired' && v.version < toVersion);
    for (const { version } of retired) {
      if (!(await keyRing.destroyVersion(job.owner, version))) continue;
      securityEvents.record({
        type: 'keys.version.destroyed',
        outcome: 'success',
        actor: { type: 'system', id: 'key-rotation' },
        ...(job.owner === SYSTEM_OWNER ? {} : { tenantId: job.owner }),
        details: { owner: job.owner, version, rotationId: job.id },
      });
    }
    return (await finishJob(this.deps.db, job.id, this.now())) ? 'done' : 'superseded';
  }

  /**
   * When the grace before destruction began: the rotation's start, and no earlier than this node
   * first saw the job. started_at is another node's clock; counting from this node's own sighting
   * too keeps a clock behind by seconds from eating the grace.
   */
  private graceStart(job: RotationJob): number {
    return Math.max(new Date(job.started_at).getTime(), this.firstSeen.get(job.id)!);
  }

  private async cipherOf(owner: string): Promise<Cipher> {
    return owner === SYSTEM_OWNER ? this.deps.keyRing.systemCipher() : this.deps.keyRing.cipherFor(owner);
  }

  private outboxDir(): string {
    return join(this.deps.config.dataDir, 'outbox');
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }
}

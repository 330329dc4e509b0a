import type { Kysely, Selectable } from 'kysely';
import type { DB, KeyRotationsTable } from '../db/schema.js';

export type RotationJob = Selectable<KeyRotationsTable>;

/** Where a job has got to: the registry field it is in, and the last primary key done there. */
export interface Checkpoint {
  field: string | null;
  position: unknown[] | null;
}

/** How far a job is, as the API, the CLI and the metrics show it. */
export interface JobProgress {
  id: string;
  owner: string;
  toVersion: number;
  state: RotationJob['state'];
  requestedBy: string;
  valuesTotal: number;
  valuesDone: number;
  /** 0–100, one decimal; 100 once done (values written after the count may make done exceed total). */
  percent: number;
  startedAt: string;
  finishedAt: string | null;
}

export function progressOf(job: RotationJob): JobProgress {
  const total = Number(job.values_total);
  const done = Number(job.values_done);
  const percent = job.state === 'done' ? 100 : total === 0 ? 0 : Math.min(100, Math.floor((done / total) * 1000) / 10);
  return {
    id: job.id,
    owner: job.owner,
    toVersion: Number(job.to_version),
    state: job.state,
    requestedBy: job.requested_by,
    valuesTotal: total,
    valuesDone: done,
    percent,
    startedAt: job.started_at,
    finishedAt: job.finished_at,
  };
}

export function checkpointOf(job: RotationJob): Checkpoint {
  return { field: job.field, position: job.position === null ? null : (JSON.parse(job.position) as unknown[]) };
}

/** Running jobs, oldest first (the worker takes them in that order). */
export function runningJobs(db: Kysely<DB>): Promise<RotationJob[]> {
  return db.selectFrom('key_rotations').selectAll().where('state', '=', 'running').orderBy('started_at').orderBy('id').execute();
}

/** An owner's newest job (running or not), for its status. */
export function latestJobOf(db: Kysely<DB>, owner: string): Promise<RotationJob | undefined> {
  return db.selectFrom('key_rotations').selectAll().where('owner', '=', owner).orderBy('started_at', 'desc').orderBy('to_version', 'desc').limit(1).executeTakeFirst();
}

export function jobById(db: Kysely<DB>, id: string): Promise<RotationJob | undefined> {
  return db.selectFrom('key_rotations').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Commits a batch's checkpoint, in the batch's own transaction: where the job has got to and how
 * many values it has done. False when the job is no longer running (a newer rotation superseded
 * it), so the batch stops there.
 */
export async function saveCheckpoint(trx: Kysely<DB>, jobId: string, checkpoint: Checkpoint, doneInBatch: number, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('key_rotations')
    .set((eb) => ({
      field: checkpoint.field,
      position: checkpoint.position === null ? null : JSON.stringify(checkpoint.position),
      values_done: eb('values_done', '+', doneInBatch),
      updated_at: now,
    }))
    .where('id', '=', jobId)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function finishJob(db: Kysely<DB>, jobId: string, now: string): Promise<boolean> {
  const result = await db
    .updateTable('key_rotations')
    .set({ state: 'done', finished_at: now, updated_at: now })
    .where('id', '=', jobId)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

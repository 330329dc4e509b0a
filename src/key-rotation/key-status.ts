import type { Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import type { DB } from '../db/schema.js';
import type { Dialect } from '../db/store-dialect.js';
import type { Clock } from '../lib/time.js';
import { algorithmForConfig } from '../keys/algorithms.js';
import type { KeyRing, KeyVersion } from '../keys/key-ring.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { keyDue, type KeyDue, type VersionValues } from './key-due.js';
import { latestJobOf, progressOf, runningJobs, type JobProgress, type RotationJob } from './rotation-jobs.js';
import { valuesPerVersion, type ValuesPerVersion } from './values-per-version.js';

/** One owner's data key versions with the values each protects, what is due, and its latest rotation's progress (never a key). */
export interface OwnerKeys extends KeyDue {
  owner: string;
  versions: VersionValues[];
  /** The owner's newest rotation job, running or finished; null if it was never rotated. */
  rotation: JobProgress | null;
}

export interface StatusDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  keyRing: KeyRing;
  clock: Clock;
  config: Pick<Readonly<Config>, 'dataCipher' | 'dataDir' | 'keyRotation'>;
}

function withValues(versions: readonly KeyVersion[], counts: ValuesPerVersion | undefined, owner: string): VersionValues[] {
  return versions.map((version) => {
    const byAlgorithm = Object.fromEntries(counts?.get(owner)?.get(version.version) ?? []);
    return { ...version, values: Object.values(byAlgorithm).reduce((sum, n) => sum + n, 0), valuesByAlgorithm: byAlgorithm };
  });
}

function ownerStatus(deps: StatusDeps, owner: string, versions: readonly KeyVersion[], counts: ValuesPerVersion, job: RotationJob | undefined): OwnerKeys {
  const withCounts = withValues(versions, counts, owner);
  const due = keyDue(withCounts, {
    now: deps.clock.now(),
    maxAgeDays: deps.config.keyRotation.maxAgeDays,
    primaryAlgorithm: algorithmForConfig(deps.config.dataCipher).name,
    rotating: job?.state === 'running',
  });
  return { owner, versions: withCounts, ...due, rotation: job ? progressOf(job) : null };
}

/** One owner's keys: a tenant's own view (GET /v1/tenant/keys), its values counted in its own rows only. */
export async function ownerKeys(deps: StatusDeps, owner: string): Promise<OwnerKeys> {
  const [versions, job, counts] = await Promise.all([deps.keyRing.versionsOf(owner), latestJobOf(deps.db, owner), valuesPerVersion(deps, owner)]);
  return ownerStatus(deps, owner, versions, counts, job);
}

/** Every owner's data key versions, by owner (the key ring's own reading of each). */
async function versionsByOwner(deps: StatusDeps): Promise<Map<string, KeyVersion[]>> {
  const rows = await deps.db.selectFrom('key_ring').select('owner').distinct().where('purpose', '=', 'data').orderBy('owner').execute();
  const owners = new Map<string, KeyVersion[]>();
  for (const { owner } of rows) owners.set(owner, await deps.keyRing.versionsOf(owner));
  return owners;
}

/** Each owner's newest job, as latestJobOf picks it, from one read of the jobs table. */
async function latestJobs(db: Kysely<DB>): Promise<Map<string, RotationJob>> {
  const rows = await db.selectFrom('key_rotations').selectAll().orderBy('started_at').orderBy('to_version').execute();
  return new Map(rows.map((row) => [row.owner, row]));
}

/**
 * Every owner's keys (the system's first) and the running jobs: what `confide keys status` shows.
 * The values are one grouped scan per registry column whatever the number of tenants, and the jobs
 * one read; the versions are read per owner (one small indexed query each).
 */
export async function allKeys(deps: StatusDeps): Promise<{ owners: OwnerKeys[]; running: JobProgress[] }> {
  const [versions, jobs, counts, running] = await Promise.all([versionsByOwner(deps), latestJobs(deps.db), valuesPerVersion(deps), runningJobs(deps.db)]);
  const names = [SYSTEM_OWNER, ...[...versions.keys()].filter((owner) => owner !== SYSTEM_OWNER)];
  const owners = names.filter((owner) => versions.has(owner)).map((owner) => ownerStatus(deps, owner, versions.get(owner)!, counts, jobs.get(owner)));
  return { owners, running: running.map(progressOf) };
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { KeyRing, KeyVersion } from '../keys/key-ring.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { latestJobOf, progressOf, runningJobs, type JobProgress } from './rotation-jobs.js';

/** One owner's data key versions and its latest rotation's progress (never a key). */
export interface OwnerKeys {
  owner: string;
  versions: KeyVersion[];
  /** The owner's newest rotation job, running or finished; null if it was never rotated. */
  rotation: JobProgress | null;
}

interface StatusDeps {
  db: Kysely<DB>;
  keyRing: KeyRing;
}

export async function ownerKeys(deps: StatusDeps, owner: string): Promise<OwnerKeys> {
  const [versions, job] = await Promise.all([deps.keyRing.versionsOf(owner), latestJobOf(deps.db, owner)]);
  return { owner, versions, rotation: job ? progressOf(job) : null };
}

/** Every owner's keys (the system's first) and the running jobs: what `confide keys status` shows. */
export async function allKeys(deps: StatusDeps): Promise<{ owners: OwnerKeys[]; running: JobProgress[] }> {
  const rows = await deps.db.selectFrom('key_ring').select('owner').distinct().where('purpose', '=', 'data').orderBy('owner').execute();
  const names = [SYSTEM_OWNER, ...rows.map((row) => row.owner).filter((owner) => owner !== SYSTEM_OWNER)];
  const owners: OwnerKeys[] = [];
  for (const owner of names) owners.push(await ownerKeys(deps, owner));
  return { owners, running: (await runningJobs(deps.db)).map(progressOf) };
}

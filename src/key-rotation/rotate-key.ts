import type { SecurityEventActor } from '../core/security-events.js';
import { newId } from '../lib/ids.js';
import { algorithmForConfig } from '../keys/algorithms.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { columnsOwnedBy, countValues } from './column-walk.js';
import { countOutboxFiles } from './outbox-walk.js';
import type { RotationDeps } from './rotation-deps.js';
import { jobById, progressOf, type JobProgress } from './rotation-jobs.js';
import { join } from 'node:path';

/** Who asked for a rotation: the security event's actor, and the job's `requested_by` (`member:<id>`, `host:<user>`, `system`). */
export interface RotationRequest {
  actor: SecurityEventActor;
  requestedBy: string;
  ip?: string;
}

/**
 * Rotates an owner's data key (a tenant id, or `system`): the new version seals every new value
 * from now on, in this process at once (the key ring drops its cached keys) and on other nodes as
 * soon as their re-encryption worker sees the job (it polls key_rotations and drops theirs). A
 * re-encryption job is queued for it; a running job of the same owner is superseded, since the new
 * one re-encrypts everything to the newer version anyway.
 *
 * The key is added outside a transaction on purpose: the key ring reloads the owner's keys after
 * adding one, and that read must see the new version committed (inside an open SQLite transaction
 * it would wait for it). Should the process stop between the two steps, the new version is primary
 * without a job; the next rotation's job re-encrypts what it left.
 */
export async function rotateKey(deps: RotationDeps, owner: string, request: RotationRequest): Promise<JobProgress> {
  const { keyRing, transactions, clock, securityEvents, config } = deps;
  const version = await keyRing.rotate(owner);
  const total = await countOwnedValues(deps, owner);
  const id = newId();
  const now = clock.now().toISOString();
  await transactions.run(async (trx) => {
    await trx
      .updateTable('key_rotations')
      .set({ state: 'superseded', finished_at: now, updated_at: now })
      .where('owner', '=', owner)
      .where('purpose', '=', 'data')
      .where('state', '=', 'running')
      .execute();
    await trx
      .insertInto('key_rotations')
      .values({
        id,
        owner,
        purpose: 'data',
        to_version: version,
        algorithm: algorithmForConfig(config.dataCipher).name,
        state: 'running',
        requested_by: request.requestedBy,
        values_total: total,
        started_at: now,
        updated_at: now,
      })
      .execute();
  });
  securityEvents.record({
    type: 'keys.rotated',
    outcome: 'success',
    actor: request.actor,
    ...(owner === SYSTEM_OWNER ? {} : { tenantId: owner }),
    ...(request.ip ? { ip: request.ip } : {}),
    details: { owner, version, rotationId: id, values: total },
  });
  return progressOf((await jobById(deps.db, id))!);
}

/** How many values the owner's key seals now: the job's total, counted field by field at its start. */
async function countOwnedValues(deps: RotationDeps, owner: string): Promise<number> {
  let total = 0;
  for (const field of columnsOwnedBy(owner)) total += await countValues(deps.db, field, owner);
  if (owner === SYSTEM_OWNER) total += countOutboxFiles(join(deps.config.dataDir, 'outbox'));
  return total;
}

/** Every tenant that has a data key (for `confide keys rotate --all-tenants` and the schedule's candidates). */
export async function tenantOwners(deps: Pick<RotationDeps, 'db'>): Promise<string[]> {
  const rows = await deps.db.selectFrom('tenants').select('id').orderBy('id').execute();
  return rows.map((row) => row.id);
}

/** Tenants whose active data key is older than `days`: what CONFIDE_KEY_ROTATION_DAYS rotates. */
export async function tenantsDueForRotation(deps: Pick<RotationDeps, 'db' | 'clock'>, days: number): Promise<string[]> {
  const before = new Date(deps.clock.now().getTime() - days * 86_400_000).toISOString();
  const rows = await deps.db
    .selectFrom('key_ring')
    .innerJoin('tenants', 'tenants.id', 'key_ring.owner')
    .select('key_ring.owner')
    .where('key_ring.purpose', '=', 'data')
    .where('key_ring.state', '=', 'active')
    // Age counts from when the version began to seal; versions active before that was recorded: from their making.
    .where((eb) => eb.fn.coalesce('key_ring.activated_at', 'key_ring.created_at'), '<', before)
    .orderBy('key_ring.owner')
    .execute();
  return rows.map((row) => row.owner);
}

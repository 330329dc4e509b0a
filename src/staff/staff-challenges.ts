import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { CHALLENGE_MAX_ATTEMPTS, CHALLENGE_SECONDS } from '../identity/mfa/mfa-challenges.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds, type Clock } from '../lib/time.js';

/** The proof, between password and second factor, that a staff member's password was right: 256 bits, 5 minutes, 5 attempts (as for users). */
export async function openStaffChallenge(db: Kysely<DB>, clock: Clock, staffId: string): Promise<string> {
  const challenge = newBearerToken('cfsc_');
  await db
    .insertInto('staff_mfa_challenges')
    .values({ id: newId(), token_hash: hashToken(challenge), staff_id: staffId, attempts: 0, expires_at: addSeconds(clock.now(), CHALLENGE_SECONDS).toISOString(), used_at: null })
    .execute();
  return challenge;
}

export async function findOpenStaffChallenge(db: Kysely<DB>, clock: Clock, challenge: string): Promise<{ id: string; staffId: string } | undefined> {
  const row = await db.selectFrom('staff_mfa_challenges').selectAll().where('token_hash', '=', hashToken(challenge)).executeTakeFirst();
  if (!row || row.used_at !== null || new Date(row.expires_at) <= clock.now() || Number(row.attempts) >= CHALLENGE_MAX_ATTEMPTS) return undefined;
  return { id: row.id, staffId: row.staff_id };
}

export async function countFailedStaffAttempt(db: Kysely<DB>, id: string): Promise<void> {
  await db
    .updateTable('staff_mfa_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id)
    .execute();
}

/** Closes a challenge; false when a concurrent use closed it first. */
export async function closeStaffChallenge(trx: Kysely<DB>, id: string, now: string): Promise<boolean> {
  const result = await trx.updateTable('staff_mfa_challenges').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

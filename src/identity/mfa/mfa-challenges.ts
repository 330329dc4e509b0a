import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { newId } from '../../lib/ids.js';
import { hashToken, newBearerToken } from '../../lib/random-token.js';
import { addSeconds, type Clock } from '../../lib/time.js';

export const CHALLENGE_SECONDS = 5 * 60;
export const CHALLENGE_MAX_ATTEMPTS = 5;

export interface OpenChallenge {
  id: string;
  userId: string;
  tenantId: string;
  attempts: number;
}

/** The proof, between password and second factor, that the password was right. 256 bits, 5 minutes. */
export async function openChallenge(db: Kysely<DB>, clock: Clock, userId: string, tenantId: string): Promise<string> {
  const challenge = newBearerToken('cfc_');
  await db
    .insertInto('mfa_challenges')
    .values({
      id: newId(),
      token_hash: hashToken(challenge),
      user_id: userId,
      tenant_id: tenantId,
      attempts: 0,
      expires_at: addSeconds(clock.now(), CHALLENGE_SECONDS).toISOString(),
      used_at: null,
    })
    .execute();
  return challenge;
}

/** The challenge behind a token, if it is still open: not used, not expired, attempts left. */
export async function findOpenChallenge(db: Kysely<DB>, clock: Clock, challenge: string): Promise<OpenChallenge | undefined> {
  const row = await db.selectFrom('mfa_challenges').selectAll().where('token_hash', '=', hashToken(challenge)).executeTakeFirst();
  if (!row || row.used_at !== null || new Date(row.expires_at) <= clock.now() || row.attempts >= CHALLENGE_MAX_ATTEMPTS) return undefined;
  return { id: row.id, userId: row.user_id, tenantId: row.tenant_id, attempts: Number(row.attempts) };
}

export async function countFailedAttempt(db: Kysely<DB>, id: string): Promise<void> {
  await db
    .updateTable('mfa_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id)
    .execute();
}

/** Closes a challenge; false when it was already closed (a concurrent use won). */
export async function closeChallenge(trx: Kysely<DB>, id: string, now: string): Promise<boolean> {
  const result = await trx.updateTable('mfa_challenges').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

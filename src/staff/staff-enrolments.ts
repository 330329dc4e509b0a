import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds, type Clock } from '../lib/time.js';

/** An enrolment token is good for 24 hours and one completed enrolment. */
export const ENROLMENT_SECONDS = 24 * 3600;
export const ENROLMENT_TOKEN_PREFIX = 'cfe_';

/** Issues a new enrolment token for a staff member, ending any earlier one that is still open. */
export async function issueEnrolmentToken(trx: Kysely<DB>, clock: Clock, staffId: string): Promise<{ token: string; expiresAt: string }> {
  const now = clock.now();
  await trx.updateTable('staff_enrolments').set({ used_at: now.toISOString() }).where('staff_id', '=', staffId).where('used_at', 'is', null).execute();
  const token = newBearerToken(ENROLMENT_TOKEN_PREFIX);
  const expiresAt = addSeconds(now, ENROLMENT_SECONDS).toISOString();
  await trx
    .insertInto('staff_enrolments')
    .values({ id: newId(), staff_id: staffId, token_hash: hashToken(token), created_at: now.toISOString(), expires_at: expiresAt, used_at: null })
    .execute();
  return { token, expiresAt };
}

/** The open enrolment behind a token: unused and unexpired. */
export async function findOpenEnrolment(db: Kysely<DB>, clock: Clock, token: string): Promise<{ id: string; staffId: string } | undefined> {
  const row = await db.selectFrom('staff_enrolments').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
  if (!row || row.used_at !== null || new Date(row.expires_at) <= clock.now()) return undefined;
  return { id: row.id, staffId: row.staff_id };
}

/** Uses up an enrolment; false when a concurrent confirmation used it first. */
export async function closeEnrolment(trx: Kysely<DB>, id: string, now: string): Promise<boolean> {
  const result = await trx.updateTable('staff_enrolments').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

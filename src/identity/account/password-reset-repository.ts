import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { newId } from '../../lib/ids.js';
import { hashToken } from '../../lib/random-token.js';

/** A reset link as stored: only the SHA-256 of its token, never the token. */
export interface StoredPasswordReset {
  id: string;
  userId: string;
  expiresAt: string;
  usedAt: string | null;
}

/** How many reset links the user was sent since `since` (the per-hour cap). */
export async function countPasswordResetsSince(db: Kysely<DB>, userId: string, since: string): Promise<number> {
  const row = await db
    .selectFrom('password_resets')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('user_id', '=', userId)
    .where('created_at', '>', since)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertPasswordReset(trx: Kysely<DB>, reset: { userId: string; token: string; createdAt: string; expiresAt: string }): Promise<void> {
  await trx
    .insertInto('password_resets')
    .values({ id: newId(), user_id: reset.userId, token_hash: hashToken(reset.token), created_at: reset.createdAt, expires_at: reset.expiresAt, used_at: null })
    .execute();
}

export async function findPasswordReset(db: Kysely<DB>, token: string): Promise<StoredPasswordReset | undefined> {
  const row = await db.selectFrom('password_resets').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
  return row && { id: row.id, userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at };
}

/** Uses a reset link up; false when a concurrent use already did. */
export async function markPasswordResetUsed(trx: Kysely<DB>, id: string, at: string): Promise<boolean> {
  const result = await trx.updateTable('password_resets').set({ used_at: at }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

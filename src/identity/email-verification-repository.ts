import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { newId } from '../lib/ids.js';
import { hashToken } from '../lib/random-token.js';

/** A verification link as stored: only the SHA-256 of its token, never the token. */
export interface StoredEmailVerification {
  id: string;
  userId: string;
  expiresAt: string;
  usedAt: string | null;
}

export async function insertEmailVerification(trx: Kysely<DB>, link: { userId: string; token: string; createdAt: string; expiresAt: string }): Promise<void> {
  await trx
    .insertInto('email_verifications')
    .values({ id: newId(), user_id: link.userId, token_hash: hashToken(link.token), created_at: link.createdAt, expires_at: link.expiresAt, used_at: null })
    .execute();
}

/** When each link the user was sent since `since` was created, oldest first (the per-hour cap and its retry time). */
export async function listEmailVerificationTimesSince(db: Kysely<DB>, userId: string, since: string): Promise<string[]> {
  const rows = await db
    .selectFrom('email_verifications')
    .select(['created_at'])
    .where('user_id', '=', userId)
    .where('created_at', '>', since)
    .orderBy('created_at', 'asc')
    .execute();
  return rows.map((row) => row.created_at);
}

export async function findEmailVerification(db: Kysely<DB>, token: string): Promise<StoredEmailVerification | undefined> {
  const row = await db.selectFrom('email_verifications').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
  return row && { id: row.id, userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at };
}

/** Uses a link up; false when a concurrent use already did. */
export async function markEmailVerificationUsed(trx: Kysely<DB>, id: string, at: string): Promise<boolean> {
  const result = await trx.updateTable('email_verifications').set({ used_at: at }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

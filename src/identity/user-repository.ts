import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Role } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

export interface StoredUser {
  id: string;
  passwordHash: string;
  disabledAt: string | null;
}

export async function findUserByEmailIndex(db: Kysely<DB>, emailIndex: string): Promise<StoredUser | undefined> {
  const row = await db
    .selectFrom('users')
    .select(['id', 'password_hash', 'disabled_at'])
    .where('email_index', '=', emailIndex)
    .executeTakeFirst();
  return row && { id: row.id, passwordHash: row.password_hash, disabledAt: row.disabled_at };
}

export async function findUserCredentials(db: Kysely<DB>, userId: string): Promise<StoredUser | undefined> {
  const row = await db.selectFrom('users').select(['id', 'password_hash', 'disabled_at']).where('id', '=', userId).executeTakeFirst();
  return row && { id: row.id, passwordHash: row.password_hash, disabledAt: row.disabled_at };
}

export async function insertUser(
  trx: Kysely<DB>,
  user: { id: string; email: string; emailIndex: string; passwordHash: string; createdAt: string; emailVerifiedAt: string | null },
  systemCipher: Cipher,
): Promise<void> {
  await trx
    .insertInto('users')
    .values({
      id: user.id,
      email_enc: systemCipher.encrypt(user.email, ENCRYPTED_FIELDS.usersEmail.location(user)),
      email_index: user.emailIndex,
      password_hash: user.passwordHash,
      created_at: user.createdAt,
      disabled_at: null,
      email_verified_at: user.emailVerifiedAt,
    })
    .execute();
}

/** Replaces the user's password hash (a change or a reset); the caller ends their other sessions. */
export async function setPasswordHash(trx: Kysely<DB>, userId: string, passwordHash: string): Promise<void> {
  await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
}

/** Records that the user proved the address (a link, an invitation or a reset token by e-mail); the first proof counts. */
export async function markEmailVerified(trx: Kysely<DB>, userId: string, at: string): Promise<void> {
  await trx.updateTable('users').set({ email_verified_at: at }).where('id', '=', userId).where('email_verified_at', 'is', null).execute();
}

export async function findUserEmail(db: Kysely<DB>, userId: string, systemCipher: Cipher): Promise<string | undefined> {
  const row = await db.selectFrom('users').select('email_enc').where('id', '=', userId).executeTakeFirst();
  return row && openUserEmail(systemCipher, userId, row.email_enc);
}

/** For queries that select `users.email_enc` themselves (joins), instead of one lookup per user. */
export function openUserEmail(systemCipher: Cipher, userId: string, emailEnc: string): string {
  return systemCipher.decrypt(emailEnc, ENCRYPTED_FIELDS.usersEmail.location({ id: userId }));
}

export async function insertMembership(
  trx: Kysely<DB>,
  membership: { tenantId: string; userId: string; role: Role; createdAt: string },
): Promise<void> {
  await trx
    .insertInto('memberships')
    .values({
      tenant_id: membership.tenantId,
      user_id: membership.userId,
      role: membership.role,
      created_at: membership.createdAt,
    })
    .execute();
}

/** The user's memberships, oldest first: the first is the default tenant at sign-in. */
export async function listMemberships(db: Kysely<DB>, userId: string): Promise<Array<{ tenantId: string; role: Role }>> {
  const rows = await db
    .selectFrom('memberships')
    .select(['tenant_id', 'role'])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'asc')
    .orderBy('tenant_id', 'asc')
    .execute();
  return rows.map((row) => ({ tenantId: row.tenant_id, role: row.role }));
}

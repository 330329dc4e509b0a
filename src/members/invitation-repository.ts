import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Role } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { hashToken } from '../lib/random-token.js';

export interface NewInvitation {
  id: string;
  tenantId: string;
  email: string;
  emailIndex: string;
  role: Role;
  token: string;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
}

/** Stores an invitation: its address encrypted under the tenant's key, its token only as a SHA-256. */
export async function insertInvitation(trx: Kysely<DB>, invitation: NewInvitation, cipher: Cipher): Promise<void> {
  const { id, email } = invitation;
  await trx
    .insertInto('invitations')
    .values({
      id,
      tenant_id: invitation.tenantId,
      email_enc: cipher.encrypt(email, ENCRYPTED_FIELDS.invitationsEmail.location({ id })),
      email_index: invitation.emailIndex,
      role: invitation.role,
      token_hash: hashToken(invitation.token),
      invited_by: invitation.invitedBy,
      created_at: invitation.createdAt,
      expires_at: invitation.expiresAt,
      accepted_at: null,
      revoked_at: null,
    })
    .execute();
}

/** The invitation a link token names, whatever its state (the caller checks it is still open). */
export async function findInvitationByToken(db: Kysely<DB>, token: string) {
  return db.selectFrom('invitations').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
}

/** Marks an invitation accepted; false when it was accepted or revoked meanwhile. */
export async function markInvitationAccepted(trx: Kysely<DB>, id: string, at: string): Promise<boolean> {
  const result = await trx
    .updateTable('invitations')
    .set({ accepted_at: at })
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The tenant's pending invitations (not accepted, revoked or expired at `now`), oldest first. */
export async function listPendingInvitations(db: Kysely<DB>, tenantId: string, now: string) {
  return pendingInvitations(db, tenantId, now)
    .select(['id', 'email_enc', 'role', 'created_at', 'expires_at', 'invited_by'])
    .orderBy('created_at', 'asc')
    .execute();
}

export async function countPendingInvitations(db: Kysely<DB>, tenantId: string, now: string): Promise<number> {
  const row = await pendingInvitations(db, tenantId, now)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** When the tenant's invitations since `since` were sent, newest first, at most `limit` (revoked ones too). */
export async function listInvitationTimesSince(db: Kysely<DB>, tenantId: string, since: string, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('invitations')
    .select('created_at')
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>', since)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => row.created_at);
}

/** Withdraws a pending invitation of the tenant; false when there is none by that id. */
export async function revokePendingInvitation(db: Kysely<DB>, tenantId: string, id: string, now: string): Promise<boolean> {
  const result = await db
    .updateTable('invitations')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

function pendingInvitations(db: Kysely<DB>, tenantId: string, now: string) {
  return db
    .selectFrom('invitations')
    .where('tenant_id', '=', tenantId)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now);
}

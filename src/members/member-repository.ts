import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Role } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { openUserEmail } from '../identity/user-repository.js';

export interface MemberView {
  userId: string;
  email: string;
  role: Role;
  mfa: boolean;
}

/** Every query takes the tenant first: a user id from another tenant finds nothing. */
export async function listMembers(db: Kysely<DB>, tenantId: string, systemCipher: Cipher): Promise<MemberView[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .leftJoin('totp_factors', (join) => join.onRef('totp_factors.user_id', '=', 'memberships.user_id').on('totp_factors.confirmed_at', 'is not', null))
    .select((eb) => [
      'memberships.user_id as userId',
      'memberships.role as role',
      'users.email_enc as emailEnc',
      'totp_factors.user_id as totpUser',
      eb.exists(eb.selectFrom('webauthn_credentials').select('webauthn_credentials.id').whereRef('webauthn_credentials.user_id', '=', 'memberships.user_id')).as('hasPasskey'),
    ])
    .where('memberships.tenant_id', '=', tenantId)
    .orderBy('memberships.created_at', 'asc')
    .execute();
  return rows.map((row) => ({
    userId: row.userId,
    email: openUserEmail(systemCipher, row.userId, row.emailEnc),
    role: row.role,
    mfa: row.totpUser !== null || Boolean(row.hasPasskey),
  }));
}

export async function findRole(db: Kysely<DB>, tenantId: string, userId: string): Promise<Role | undefined> {
  const row = await db.selectFrom('memberships').select('role').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
  return row?.role;
}

export async function countOwners(db: Kysely<DB>, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function setRole(trx: Kysely<DB>, tenantId: string, userId: string, role: Role): Promise<void> {
  await trx.updateTable('memberships').set({ role }).where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
}

export async function deleteMembership(trx: Kysely<DB>, tenantId: string, userId: string): Promise<void> {
  await trx.deleteFrom('memberships').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
}

/** Ends a user's sessions in one tenant at once (their sessions elsewhere are untouched). */
export async function revokeTenantSessions(trx: Kysely<DB>, tenantId: string, userId: string, now: string): Promise<void> {
  await trx
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
}

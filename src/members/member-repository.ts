import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Role } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { openUserEmail } from '../identity/user-repository.js';
import { fillPage } from '../lib/page-budget.js';
import { LONGEST_MEMBER_CURSOR, type MemberPosition } from './member-cursor.js';

export interface MemberView {
  userId: string;
  email: string;
  role: Role;
  mfa: boolean;
}

/** The tenant's memberships with what a member view needs, in the order members joined. */
function memberRows(db: Kysely<DB>, tenantId: string) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .leftJoin('totp_factors', (join) => join.onRef('totp_factors.user_id', '=', 'memberships.user_id').on('totp_factors.confirmed_at', 'is not', null))
    .select((eb) => [
      'memberships.user_id as userId',
      'memberships.role as role',
      'memberships.created_at as createdAt',
      'users.email_enc as emailEnc',
      'totp_factors.user_id as totpUser',
      eb.exists(eb.selectFrom('webauthn_credentials').select('webauthn_credentials.id').whereRef('webauthn_credentials.user_id', '=', 'memberships.user_id')).as('hasPasskey'),
    ])
    .where('memberships.tenant_id', '=', tenantId)
    .orderBy('memberships.created_at', 'asc')
    .orderBy('memberships.user_id', 'asc');
}

type MemberRow = Awaited<ReturnType<ReturnType<typeof memberRows>['execute']>>[number];

function toMemberView(row: MemberRow, systemCipher: Cipher): MemberView {
  return {
    userId: row.userId,
    email: openUserEmail(systemCipher, row.userId, row.emailEnc),
    role: row.role,
    mfa: row.totpUser !== null || Boolean(row.hasPasskey),
  };
}

/** Every query takes the tenant first: a user id from another tenant finds nothing. */
export async function findMember(db: Kysely<DB>, tenantId: string, userId: string, systemCipher: Cipher): Promise<MemberView | undefined> {
  const row = await memberRows(db, tenantId).where('memberships.user_id', '=', userId).executeTakeFirst();
  return row && toMemberView(row, systemCipher);
}

export interface MemberPage {
  items: MemberView[];
  /** Where the next page starts, or null after the last member. */
  next: MemberPosition | null;
}

/**
 * A page of members in the order they joined, after `after`: at most `limit`, and ending early
 * before its JSON would pass `maxBytes` (always at least one member).
 */
export async function listMemberPage(
  db: Kysely<DB>,
  tenantId: string,
  systemCipher: Cipher,
  options: { after?: MemberPosition; limit: number; maxBytes: number },
): Promise<MemberPage> {
  const page = await fillPage({
    limit: options.limit,
    maxBytes: options.maxBytes,
    longestCursor: LONGEST_MEMBER_CURSOR,
    read: (last: MemberRow | undefined, count) => {
      const after = last ?? options.after;
      let query = memberRows(db, tenantId).limit(count);
      if (after) {
        query = query.where((eb) =>
          eb.or([
            eb('memberships.created_at', '>', after.createdAt),
            eb.and([eb('memberships.created_at', '=', after.createdAt), eb('memberships.user_id', '>', after.userId)]),
          ]),
        );
      }
      return query.execute();
    },
    toItem: (row) => toMemberView(row, systemCipher),
  });
  const last = page.lastRow;
  return { items: page.items, next: page.more && last ? { createdAt: last.createdAt, userId: last.userId } : null };
}

export async function findRole(db: Kysely<DB>, tenantId: string, userId: string): Promise<Role | undefined> {
  const row = await db.selectFrom('memberships').select('role').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
  return row?.role;
}

/**
 * The member's role, read inside `trx` with the membership row locked where the dialect locks
 * rows (PostgreSQL): a removal or demotion running at the same time waits, or is waited for.
 */
export async function lockRole(trx: Kysely<DB>, tenantId: string, userId: string, lockRows: boolean): Promise<Role | undefined> {
  const query = trx.selectFrom('memberships').select('role').where('tenant_id', '=', tenantId).where('user_id', '=', userId);
  const row = await (lockRows ? query.forUpdate() : query).executeTakeFirst();
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

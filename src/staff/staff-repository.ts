import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { StaffRole } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

/** A staff account as the CLI and the admin API show it (never its password hash). */
export interface StaffMember {
  id: string;
  email: string;
  role: StaffRole;
  createdAt: string;
  enrolledAt: string | null;
  disabledAt: string | null;
}

/** What sign-in and enrolment need of an account. */
export interface StaffCredentials {
  id: string;
  role: StaffRole;
  passwordHash: string | null;
  enrolledAt: string | null;
  disabledAt: string | null;
}

export async function insertStaff(
  trx: Kysely<DB>,
  staff: { id: string; email: string; emailIndex: string; role: StaffRole; createdAt: string },
  cipher: Cipher,
): Promise<void> {
  await trx
    .insertInto('staff')
    .values({
      id: staff.id,
      email_enc: cipher.encrypt(staff.email, ENCRYPTED_FIELDS.staffEmail.location(staff)),
      email_index: staff.emailIndex,
      role: staff.role,
      password_hash: null,
      created_at: staff.createdAt,
      enrolled_at: null,
      disabled_at: null,
    })
    .execute();
}

export async function findStaffByEmailIndex(db: Kysely<DB>, emailIndex: string): Promise<StaffCredentials | undefined> {
  const row = await db.selectFrom('staff').select(['id', 'role', 'password_hash', 'enrolled_at', 'disabled_at']).where('email_index', '=', emailIndex).executeTakeFirst();
  return row && { id: row.id, role: row.role, passwordHash: row.password_hash, enrolledAt: row.enrolled_at, disabledAt: row.disabled_at };
}

export async function findStaffMember(db: Kysely<DB>, id: string, cipher: Cipher): Promise<StaffMember | undefined> {
  const row = await db.selectFrom('staff').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toMember(row, cipher);
}

export async function listStaffMembers(db: Kysely<DB>, cipher: Cipher): Promise<StaffMember[]> {
  const rows = await db.selectFrom('staff').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map((row) => toMember(row, cipher));
}

function toMember(row: { id: string; email_enc: string; role: StaffRole; created_at: string; enrolled_at: string | null; disabled_at: string | null }, cipher: Cipher): StaffMember {
  return {
    id: row.id,
    email: cipher.decrypt(row.email_enc, ENCRYPTED_FIELDS.staffEmail.location(row)),
    role: row.role,
    createdAt: row.created_at,
    enrolledAt: row.enrolled_at,
    disabledAt: row.disabled_at,
  };
}

export async function setStaffPassword(trx: Kysely<DB>, id: string, passwordHash: string): Promise<void> {
  await trx.updateTable('staff').set({ password_hash: passwordHash }).where('id', '=', id).execute();
}

export async function markStaffEnrolled(trx: Kysely<DB>, id: string, now: string): Promise<void> {
  await trx.updateTable('staff').set({ enrolled_at: now }).where('id', '=', id).execute();
}

/** Disables an account once; false when it was already disabled. */
export async function markStaffDisabled(trx: Kysely<DB>, id: string, now: string): Promise<boolean> {
  const result = await trx.updateTable('staff').set({ disabled_at: now }).where('id', '=', id).where('disabled_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import { RECOVERY_CODE_COUNT, newRecoveryCode, recoveryCodeHash } from '../identity/mfa/recovery-codes.js';
import type { TotpFactorRow } from '../identity/mfa/totp-factor.js';

/**
 * Staff second factors, stored in the staff realm's own tables. How a TOTP code is checked (with
 * replay protection) and how recovery codes are made and hashed is the identity code's
 * (totp-factor.ts, recovery-codes.ts); only where the rows live differs.
 */

/** A staff TOTP factor, with its sealed secret as stored: what a confirmation binds itself to. */
export interface StaffTotpRow extends TotpFactorRow {
  secretEnc: string;
}

export async function findStaffTotp(db: Kysely<DB>, staffId: string, cipher: Cipher): Promise<StaffTotpRow | undefined> {
  const row = await db.selectFrom('staff_totp_factors').selectAll().where('staff_id', '=', staffId).executeTakeFirst();
  return (
    row && {
      secretEnc: row.secret_enc,
      secret: cipher.decrypt(row.secret_enc, ENCRYPTED_FIELDS.staffTotpSecret.location(row)),
      confirmed: row.confirmed_at !== null,
      lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
    }
  );
}

export async function savePendingStaffTotp(trx: Kysely<DB>, staffId: string, secret: string, cipher: Cipher, now: string): Promise<void> {
  await trx.deleteFrom('staff_totp_factors').where('staff_id', '=', staffId).execute();
  await trx
    .insertInto('staff_totp_factors')
    .values({
      staff_id: staffId,
      secret_enc: cipher.encrypt(secret, ENCRYPTED_FIELDS.staffTotpSecret.location({ staff_id: staffId })),
      confirmed_at: null,
      last_used_step: null,
      created_at: now,
    })
    .execute();
}

/**
 * Records a used step only if it is newer than the last: of two racing uses of one code, one wins.
 * A confirmation names the sealed secret its code was checked against, so a secret replaced in
 * the meantime (enrolment started again) is never the one confirmed.
 */
export async function consumeStaffTotpStep(trx: Kysely<DB>, staffId: string, step: number, confirm?: { at: string; secretEnc: string }): Promise<boolean> {
  let query = trx
    .updateTable('staff_totp_factors')
    .set({ last_used_step: step, ...(confirm ? { confirmed_at: confirm.at } : {}) })
    .where('staff_id', '=', staffId);
  if (confirm) query = query.where('secret_enc', '=', confirm.secretEnc);
  const result = await query
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

const owner = (staffId: string) => `staff-recovery-code:${staffId}`;

export async function replaceStaffRecoveryCodes(trx: Kysely<DB>, staffId: string, indexKey: Buffer, now: string): Promise<string[]> {
  await trx.deleteFrom('staff_recovery_codes').where('staff_id', '=', staffId).execute();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await trx
    .insertInto('staff_recovery_codes')
    .values(codes.map((code) => ({ id: newId(), staff_id: staffId, code_hash: recoveryCodeHash(indexKey, owner(staffId), code), used_at: null, created_at: now })))
    .execute();
  return codes;
}

export async function consumeStaffRecoveryCode(trx: Kysely<DB>, staffId: string, code: string, indexKey: Buffer, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('staff_recovery_codes')
    .set({ used_at: now })
    .where('staff_id', '=', staffId)
    .where('code_hash', '=', recoveryCodeHash(indexKey, owner(staffId), code))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

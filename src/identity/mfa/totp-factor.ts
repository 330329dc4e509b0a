import { generateSecret, generateURI, verify } from 'otplib';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { Cipher } from '../../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../../keys/encrypted-fields.js';

/** RFC 6238 defaults every authenticator app understands: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD_SECONDS = 30;

export type TotpCheck = { ok: true; step: number } | { ok: false; replay: boolean };

export interface TotpFactorRow {
  secret: string;
  confirmed: boolean;
  lastUsedStep: number | null;
}

/** A new 160-bit CSPRNG secret and the otpauth:// URI that carries it to an authenticator app. */
export function newTotpSecret(label: string): { secret: string; otpauthUri: string } {
  const secret = generateSecret({ length: 20 });
  return { secret, otpauthUri: generateURI({ issuer: 'Confide', label, secret }) };
}

/**
 * Checks a code against the current step ±1 (clock drift). A code whose step was already used
 * (`lastUsedStep` or earlier) is a replay: refused, and reported as one so it can be logged.
 */
export async function checkTotp(secret: string, code: string, lastUsedStep: number | null, now: Date): Promise<TotpCheck> {
  if (!/^\d{6}$/.test(code)) return { ok: false, replay: false };
  const result = await verify({ secret, token: code, epoch: Math.floor(now.getTime() / 1000), epochTolerance: TOTP_PERIOD_SECONDS });
  if (!result.valid || !('timeStep' in result)) return { ok: false, replay: false };
  if (lastUsedStep !== null && result.timeStep <= lastUsedStep) return { ok: false, replay: true };
  return { ok: true, step: result.timeStep };
}

export async function findTotpFactor(db: Kysely<DB>, userId: string, cipher: Cipher): Promise<TotpFactorRow | undefined> {
  const row = await db.selectFrom('totp_factors').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return (
    row && {
      secret: cipher.decrypt(row.secret_enc, ENCRYPTED_FIELDS.totpFactorsSecret.location({ user_id: userId })),
      confirmed: row.confirmed_at !== null,
      lastUsedStep: row.last_used_step === null ? null : Number(row.last_used_step),
    }
  );
}

export async function savePendingTotp(trx: Kysely<DB>, userId: string, secret: string, cipher: Cipher, now: string): Promise<void> {
  await trx.deleteFrom('totp_factors').where('user_id', '=', userId).execute();
  await trx
    .insertInto('totp_factors')
    .values({ user_id: userId, secret_enc: cipher.encrypt(secret, ENCRYPTED_FIELDS.totpFactorsSecret.location({ user_id: userId })), confirmed_at: null, last_used_step: null, created_at: now })
    .execute();
}

/**
 * Records a used step, only if it is newer than the last one: of two requests racing with the
 * same code, exactly one succeeds.
 */
export async function consumeTotpStep(trx: Kysely<DB>, userId: string, step: number, confirmAt?: string): Promise<boolean> {
  const result = await trx
    .updateTable('totp_factors')
    .set({ last_used_step: step, ...(confirmAt ? { confirmed_at: confirmAt } : {}) })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteTotpFactor(trx: Kysely<DB>, userId: string): Promise<boolean> {
  const result = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

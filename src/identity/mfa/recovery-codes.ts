import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { blindIndex } from '../../keys/blind-index.js';
import { newId } from '../../lib/ids.js';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o, 1/l/i: read aloud and typed by people

/** `xxxxx-xxxxx`: 10 characters from 31, about 49 bits each. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((byte) => ALPHABET[byte % ALPHABET.length]!).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

export function normaliseRecoveryCode(code: string): string {
  return code.trim().toLowerCase().replace(/[\s-]/g, '');
}

/**
 * Stored as keyed HMACs (the blind-index key lives under the master key), so a stolen database
 * alone cannot be used to search the code space offline, and a code is found by one lookup.
 */
function codeHash(indexKey: Buffer, userId: string, code: string): string {
  return recoveryCodeHash(indexKey, `recovery-code:${userId}`, code);
}

/** The stored form of a code, bound to whose it is (`owner`: a label naming the realm and the account). */
export function recoveryCodeHash(indexKey: Buffer, owner: string, code: string): string {
  return blindIndex(indexKey, owner, normaliseRecoveryCode(code));
}

/** Replaces the user's set with 10 new single-use codes, returned once, in clear, to show the user. */
export async function replaceRecoveryCodes(trx: Kysely<DB>, userId: string, indexKey: Buffer, now: string): Promise<string[]> {
  await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await trx
    .insertInto('recovery_codes')
    .values(codes.map((code) => ({ id: newId(), user_id: userId, code_hash: codeHash(indexKey, userId, code), used_at: null, created_at: now })))
    .execute();
  return codes;
}

/** Uses up a code: true once per code, false for an unknown or already used one. */
export async function consumeRecoveryCode(trx: Kysely<DB>, userId: string, code: string, indexKey: Buffer, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash(indexKey, userId, code))
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteRecoveryCodes(trx: Kysely<DB>, userId: string): Promise<void> {
  await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
}

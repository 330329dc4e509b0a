import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

export interface FactorSummary {
  totp: boolean;
  webauthn: number;
  recoveryCodes: number;
}

/** Which second factors a user has: a confirmed authenticator app, passkeys, unused recovery codes. */
export async function factorSummary(db: Kysely<DB>, userId: string): Promise<FactorSummary> {
  const [totp, webauthn, codes] = await Promise.all([
    db.selectFrom('totp_factors').select('user_id').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst(),
    db.selectFrom('webauthn_credentials').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow(),
    db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirstOrThrow(),
  ]);
  return { totp: totp !== undefined, webauthn: Number(webauthn.n), recoveryCodes: Number(codes.n) };
}

/** Recovery codes only stand in for a factor; they are not one. */
export async function hasSecondFactor(db: Kysely<DB>, userId: string): Promise<boolean> {
  const summary = await factorSummary(db, userId);
  return summary.totp || summary.webauthn > 0;
}

export function methodsFor(summary: FactorSummary): Array<'totp' | 'webauthn' | 'recoveryCode'> {
  return [...(summary.totp ? (['totp'] as const) : []), ...(summary.webauthn > 0 ? (['webauthn'] as const) : []), ...(summary.recoveryCodes > 0 ? (['recoveryCode'] as const) : [])];
}

import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { MfaDeps } from './mfa-deps.js';
import { consumeRecoveryCode } from './recovery-codes.js';
import { checkTotp, consumeTotpStep, findTotpFactor } from './totp-factor.js';
import { verifyAssertion } from './webauthn-factor.js';

export type FactorMethod = 'totp' | 'webauthn' | 'recoveryCode';

/** The outcome of one proof: passed, or not (and whether because a used TOTP step was replayed). */
export interface FactorCheck {
  ok: boolean;
  replay?: boolean;
}

/**
 * One kind of second factor, as sign-in (and re-authentication) uses it: check the proof and use it
 * up. Each is a sibling behind this one interface (as ory/kratos's strategies are), so any realm's
 * sign-in, users' now and staff's next, picks factors without knowing how each one works.
 */
export interface SecondFactor<Input> {
  readonly method: FactorMethod;
  /** `ip` is for the security events a factor records itself (a replayed code). */
  verify(userId: string, input: Input, context: { ip: string }): Promise<FactorCheck>;
}

type FactorDeps = Pick<MfaDeps, 'db' | 'keyRing' | 'clock' | 'transactions' | 'securityEvents' | 'config'>;

/** An authenticator-app code; each 30-second step works once. */
export class TotpSecondFactor implements SecondFactor<string> {
  readonly method = 'totp';

  constructor(private readonly services: FactorDeps) {}

  /**
   * Checks a code against the user's confirmed authenticator app and uses up its time step.
   * A replayed code is refused and recorded, wherever it is offered.
   */
  async verify(userId: string, code: string, { ip }: { ip: string }): Promise<{ ok: boolean; replay: boolean }> {
    const { db, keyRing, clock, transactions, securityEvents } = this.services;
    const totp = await findTotpFactor(db, userId, keyRing.systemCipher());
    if (!totp?.confirmed) return { ok: false, replay: false };
    const check = await checkTotp(totp.secret, code, totp.lastUsedStep, clock.now());
    if (!check.ok) {
      if (check.replay) securityEvents.record({ type: 'mfa.totp.replay', outcome: 'refused', userId, ip });
      return { ok: false, replay: check.replay };
    }
    // A concurrent use of the same step wins the race: this one is then a replay too.
    const consumed = await transactions.run((trx) => consumeTotpStep(trx, userId, check.step));
    return { ok: consumed, replay: !consumed };
  }
}

/** A passkey assertion against an open WebAuthn challenge of the user. */
export class PasskeySecondFactor implements SecondFactor<AuthenticationResponseJSON> {
  readonly method = 'webauthn';

  constructor(private readonly services: FactorDeps) {}

  async verify(userId: string, assertion: AuthenticationResponseJSON): Promise<FactorCheck> {
    const { clock, transactions, config } = this.services;
    return { ok: await transactions.run((trx) => verifyAssertion(trx, clock, config.webauthn, userId, assertion)) };
  }
}

/** One of the user's single-use recovery codes: it stands in for a lost factor, once. */
export class RecoveryCodeSecondFactor implements SecondFactor<string> {
  readonly method = 'recoveryCode';

  constructor(private readonly services: FactorDeps) {}

  async verify(userId: string, code: string): Promise<FactorCheck> {
    const { keyRing, clock, transactions } = this.services;
    const indexKey = await keyRing.blindIndexKey();
    const now = clock.now().toISOString();
    return { ok: await transactions.run((trx) => consumeRecoveryCode(trx, userId, code, indexKey, now)) };
  }
}

/** The factors a user may answer a sign-in challenge with, by method. */
export interface SecondFactors {
  totp: TotpSecondFactor;
  webauthn: PasskeySecondFactor;
  recoveryCode: RecoveryCodeSecondFactor;
}

export function secondFactors(services: FactorDeps): SecondFactors {
  return { totp: new TotpSecondFactor(services), webauthn: new PasskeySecondFactor(services), recoveryCode: new RecoveryCodeSecondFactor(services) };
}

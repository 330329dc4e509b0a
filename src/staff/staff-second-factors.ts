import type { FactorCheck, SecondFactor } from '../identity/mfa/second-factor-strategies.js';
import { checkTotp } from '../identity/mfa/totp-factor.js';
import type { StaffDeps } from './staff-deps.js';
import { consumeStaffRecoveryCode, consumeStaffTotpStep, findStaffTotp } from './staff-factors.js';

type FactorDeps = Pick<StaffDeps, 'db' | 'keyRing' | 'clock' | 'transactions' | 'securityEvents'>;

/** A staff member's authenticator-app code, behind the same strategy interface as users' factors. */
export class StaffTotpSecondFactor implements SecondFactor<string> {
  readonly method = 'totp';

  constructor(private readonly services: FactorDeps) {}

  async verify(staffId: string, code: string, { ip }: { ip: string }): Promise<FactorCheck> {
    const { db, keyRing, clock, transactions, securityEvents } = this.services;
    const totp = await findStaffTotp(db, staffId, keyRing.systemCipher());
    if (!totp?.confirmed) return { ok: false, replay: false };
    const check = await checkTotp(totp.secret, code, totp.lastUsedStep, clock.now());
    if (!check.ok) {
      if (check.replay) securityEvents.record({ type: 'mfa.totp.replay', outcome: 'refused', actor: { type: 'staff', id: staffId }, ip });
      return { ok: false, replay: check.replay };
    }
    const consumed = await transactions.run((trx) => consumeStaffTotpStep(trx, staffId, check.step));
    return { ok: consumed, replay: !consumed };
  }
}

/** One of a staff member's single-use recovery codes. */
export class StaffRecoveryCodeSecondFactor implements SecondFactor<string> {
  readonly method = 'recoveryCode';

  constructor(private readonly services: FactorDeps) {}

  async verify(staffId: string, code: string): Promise<FactorCheck> {
    const { keyRing, clock, transactions } = this.services;
    const indexKey = await keyRing.blindIndexKey();
    const now = clock.now().toISOString();
    return { ok: await transactions.run((trx) => consumeStaffRecoveryCode(trx, staffId, code, indexKey, now)) };
  }
}

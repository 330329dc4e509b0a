import type { StaffDeps } from './staff-deps.js';
import { AppError } from '../lib/app-error.js';
import { hashPassword } from '../identity/password-hasher.js';
import { assertAcceptablePassword } from '../identity/password-policy.js';
import { checkTotp, newTotpSecret } from '../identity/mfa/totp-factor.js';
import { wrongCode } from '../identity/mfa/mfa-errors.js';
import { closeEnrolment, findOpenEnrolment } from './staff-enrolments.js';
import { consumeStaffTotpStep, findStaffTotp, replaceStaffRecoveryCodes, savePendingStaffTotp } from './staff-factors.js';
import { findStaffMember, markStaffEnrolled, setStaffPassword, type StaffMember } from './staff-repository.js';

const invalidToken = () =>
  new AppError('UNAUTHENTICATED', { message: 'The enrolment token is not valid or has expired; ask an operator for a new one.', details: { reason: 'invalid_token' } });

/**
 * Enrolment on the admin listener, with the single-use token an operator printed with
 * `confide staff add`: first a password (the users' policy) and an authenticator app secret,
 * then a first code that proves the app works, which completes enrolment and returns the
 * recovery codes. Only then can the staff member sign in: a staff account always has a second factor.
 */
export class StaffEnrolment {
  constructor(private readonly services: StaffDeps) {}

  async start(token: string, password: string): Promise<{ secret: string; otpauthUri: string }> {
    const { clock, keyRing, transactions, config } = this.services;
    const { member } = await this.openEnrolment(token);
    assertAcceptablePassword(password, config.passwords.minLength, { email: member.email });
    const passwordHash = await hashPassword(password);
    const enrolment = newTotpSecret(`staff:${member.email}`);
    await transactions.run(async (trx) => {
      await setStaffPassword(trx, member.id, passwordHash);
      await savePendingStaffTotp(trx, member.id, enrolment.secret, keyRing.systemCipher(), clock.now().toISOString());
    });
    return enrolment;
  }

  async confirm(token: string, code: string, ip: string): Promise<{ recoveryCodes: string[] }> {
    const { db, clock, keyRing, transactions, securityEvents } = this.services;
    const { enrolmentId, member } = await this.openEnrolment(token);
    const totp = await findStaffTotp(db, member.id, keyRing.systemCipher());
    if (!totp || totp.confirmed) {
      throw new AppError('CONFLICT', { message: 'Set a password first (POST /admin/v1/enrolment) to get an authenticator secret.', details: { reason: 'no_pending_totp' } });
    }
    const check = await checkTotp(totp.secret, code, totp.lastUsedStep, clock.now());
    if (!check.ok) {
      securityEvents.record({ type: 'staff.enrolled', outcome: 'failure', actor: { type: 'staff', id: member.id }, ip, details: { reason: 'wrong_code' } });
      throw wrongCode();
    }
    const indexKey = await keyRing.blindIndexKey();
    const now = clock.now().toISOString();
    const recoveryCodes = await transactions.run(async (trx) => {
      if (!(await closeEnrolment(trx, enrolmentId, now))) throw invalidToken();
      if (!(await consumeStaffTotpStep(trx, member.id, check.step, { at: now, secretEnc: totp.secretEnc }))) throw wrongCode();
      await markStaffEnrolled(trx, member.id, now);
      return replaceStaffRecoveryCodes(trx, member.id, indexKey, now);
    });
    securityEvents.record({ type: 'staff.enrolled', outcome: 'success', actor: { type: 'staff', id: member.id }, ip });
    return { recoveryCodes };
  }

  /** The staff member an open token belongs to, if they can still enrol (not disabled, not enrolled yet). */
  private async openEnrolment(token: string): Promise<{ enrolmentId: string; member: StaffMember }> {
    const { db, clock, keyRing } = this.services;
    const open = await findOpenEnrolment(db, clock, token);
    const member = open && (await findStaffMember(db, open.staffId, keyRing.systemCipher()));
    if (!open || !member || member.disabledAt !== null || member.enrolledAt !== null) throw invalidToken();
    return { enrolmentId: open.id, member };
  }
}

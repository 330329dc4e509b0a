import type { StaffDeps } from './staff-deps.js';
import { AppError } from '../lib/app-error.js';
import { blindIndex } from '../keys/blind-index.js';
import { normaliseEmail } from '../identity/email-address.js';
import { burnPasswordCheck, verifyPassword } from '../identity/password-hasher.js';
import type { SignInThrottle, ThrottleSubject } from '../identity/sign-in-throttle.js';
import type { FactorCheck } from '../identity/mfa/second-factor-strategies.js';
import { closedChallenge, replayedCode, wrongCode } from '../identity/mfa/mfa-errors.js';
import { findStaffByEmailIndex, findStaffMember } from './staff-repository.js';
import { securityEventTargetIndex } from '../security-events/security-event-store.js';
import { closeStaffChallenge, countFailedStaffAttempt, findOpenStaffChallenge, openStaffChallenge } from './staff-challenges.js';
import { StaffRecoveryCodeSecondFactor, StaffTotpSecondFactor } from './staff-second-factors.js';
import type { IssuedStaffSession, StaffSessionStore } from './staff-session-store.js';

export interface StaffChallenge {
  mfaRequired: true;
  challenge: string;
  methods: Array<'totp' | 'recoveryCode'>;
}

export interface StaffSecondStep {
  code?: string;
  recoveryCode?: string;
}

const invalidCredentials = () =>
  new AppError('UNAUTHENTICATED', { message: 'The e-mail address or password is not correct.', details: { reason: 'invalid_credentials' } });

/**
 * Staff sign-in, always two steps: the password (throttled, in constant work whether or not the
 * account exists), then a TOTP or recovery code against a short-lived challenge. The throttle
 * is the users' one in the `staff` realm, so staff and customers never share a count.
 */
export class StaffSignIn {
  private readonly totp: StaffTotpSecondFactor;
  private readonly recoveryCode: StaffRecoveryCodeSecondFactor;

  constructor(
    private readonly services: StaffDeps,
    private readonly sessions: StaffSessionStore,
    private readonly throttle: SignInThrottle,
  ) {
    this.totp = new StaffTotpSecondFactor(services);
    this.recoveryCode = new StaffRecoveryCodeSecondFactor(services);
  }

  async password(email: string, password: string, ip: string): Promise<StaffChallenge> {
    const subject = { email: normaliseEmail(email), ip };
    return this.throttle.guard(subject, () => this.checkPassword(subject, password));
  }

  private async checkPassword(subject: ThrottleSubject, password: string): Promise<StaffChallenge> {
    const { db, keyRing, clock, securityEvents } = this.services;
    await this.throttle.assertAllowed(subject);
    const staff = await findStaffByEmailIndex(db, blindIndex(await keyRing.blindIndexKey(), 'staff-email', subject.email));
    const hash = staff?.passwordHash ?? null;
    const passwordOk = hash !== null ? await verifyPassword(hash, password) : (await burnPasswordCheck(password), false);
    // An account that is not enrolled (no second factor yet) or disabled cannot sign in at all.
    if (!staff || !passwordOk || staff.enrolledAt === null || staff.disabledAt !== null) {
      await this.throttle.recordFailure(subject);
      const targetIndex = securityEventTargetIndex(await keyRing.blindIndexKey(), subject.email);
      securityEvents.record({ type: 'staff.signin.password', outcome: 'failure', ip: subject.ip, targetIndex, ...(staff ? { actor: { type: 'staff', id: staff.id } } : {}) });
      throw invalidCredentials();
    }
    securityEvents.record({ type: 'staff.signin.password', outcome: 'success', ip: subject.ip, actor: { type: 'staff', id: staff.id } });
    return { mfaRequired: true, challenge: await openStaffChallenge(db, clock, staff.id), methods: ['totp', 'recoveryCode'] };
  }

  /** The second step: the challenge allows 5 attempts in 5 minutes, and failures count against the throttle too. */
  async secondFactor(challengeToken: string, proof: StaffSecondStep, ip: string): Promise<IssuedStaffSession & { staffId: string }> {
    const { db, clock, keyRing } = this.services;
    const challenge = await findOpenStaffChallenge(db, clock, challengeToken);
    if (!challenge) throw closedChallenge();
    const member = await findStaffMember(db, challenge.staffId, keyRing.systemCipher());
    if (!member || member.disabledAt !== null) throw closedChallenge();
    const subject = { email: normaliseEmail(member.email), ip };
    return this.throttle.guard(subject, () => this.checkSecondStep(challenge, proof, subject));
  }

  private async checkSecondStep(challenge: { id: string; staffId: string }, proof: StaffSecondStep, subject: ThrottleSubject) {
    const { db, clock, transactions, securityEvents } = this.services;
    const { ip } = subject;
    await this.throttle.assertAllowed(subject);
    const method = proof.code !== undefined ? 'totp' : 'recoveryCode';
    const actor = { type: 'staff' as const, id: challenge.staffId };
    const check = await this.checkFactor(challenge.staffId, proof, ip);
    if (!check.ok) {
      await countFailedStaffAttempt(db, challenge.id);
      await this.throttle.recordFailure(subject);
      securityEvents.record({ type: 'staff.signin.mfa', outcome: 'failure', actor, ip, details: { method } });
      throw check.replay === true ? replayedCode() : wrongCode();
    }
    const session = await transactions.run(async (trx) => {
      if (!(await closeStaffChallenge(trx, challenge.id, clock.now().toISOString()))) return undefined;
      return this.sessions.issue(trx, challenge.staffId, ip);
    });
    if (!session) throw closedChallenge();
    await this.throttle.recordSuccess(subject);
    securityEvents.record({ type: 'staff.signin.mfa', outcome: 'success', actor, ip, details: { method } });
    return { ...session, staffId: challenge.staffId };
  }

  /** Exactly one of a code or a recovery code; offering neither or both fails like a wrong code. */
  private async checkFactor(staffId: string, proof: StaffSecondStep, ip: string): Promise<FactorCheck> {
    if (proof.code !== undefined && proof.recoveryCode === undefined) return this.totp.verify(staffId, proof.code, { ip });
    if (proof.recoveryCode !== undefined && proof.code === undefined) return this.recoveryCode.verify(staffId, proof.recoveryCode);
    return { ok: false };
  }
}

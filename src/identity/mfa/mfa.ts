import type { Kysely } from 'kysely';
import type { MfaDeps } from './mfa-deps.js';
import type { DB } from '../../db/schema.js';
import type { MemberPrincipal } from '../../core/principal.js';
import { AppError } from '../../lib/app-error.js';
import { addSeconds } from '../../lib/time.js';
import { ACCOUNT_CHANGE_EVENTS, type AccountChange } from '../account-notices.js';
import type { SessionStore } from '../session-store.js';
import type { SignInThrottle } from '../sign-in-throttle.js';
import type { SignedIn, SignInCompletion } from '../sign-in-completion.js';
import { secondFactors, type FactorCheck, type FactorMethod, type SecondFactors } from './second-factor-strategies.js';
import { verifyPassword } from '../password-hasher.js';
import { findUserCredentials, findUserEmail } from '../user-repository.js';
import { closeChallenge, countFailedAttempt, findOpenChallenge } from './mfa-challenges.js';
import { deleteRecoveryCodes, replaceRecoveryCodes } from './recovery-codes.js';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { readTenantSettings } from '../../tenants/tenant-settings.js';
import { factorSummary, hasSecondFactor } from './second-factors.js';
import { authenticationOptions, deleteCredential, listCredentials, registerCredential, registrationOptions } from './webauthn-factor.js';
import { checkTotp, consumeTotpStep, deleteTotpFactor, findTotpFactor, newTotpSecret, savePendingTotp } from './totp-factor.js';
import { closedChallenge, replayedCode, wrongCode } from './mfa-errors.js';
import type { Proof, SecondFactorInput } from './mfa-inputs.js';

export type { Proof, SecondFactorInput } from './mfa-inputs.js';

/** A factor change needs a password or factor check this recent (ASVS 7.5.1). */
export const REAUTHENTICATION_SECONDS = 5 * 60;

/**
 * Second factors: TOTP enrolment and removal, recovery codes, and the second step of sign-in.
 * Every change is confirmed by a fresh password or factor check and reported to the user by e-mail.
 */
export class Mfa {
  constructor(
    private readonly services: MfaDeps,
    private readonly sessions: SessionStore,
    private readonly throttle: SignInThrottle,
    private readonly completion: SignInCompletion,
    private readonly factors: SecondFactors = secondFactors(services),
  ) {}

  /** Starts TOTP enrolment; the factor is active only once confirmed with a first code. */
  async beginTotp(principal: MemberPrincipal, proof: Proof, ip: string): Promise<{ secret: string; otpauthUri: string }> {
    await this.reauthenticate(principal, proof, ip);
    const { db, keyRing, clock, transactions } = this.services;
    const cipher = keyRing.systemCipher();
    const existing = await findTotpFactor(db, principal.userId, cipher);
    if (existing?.confirmed) {
      throw new AppError('CONFLICT', { message: 'An authenticator app is already set up; remove it first to replace it.', details: { reason: 'totp_already_active' } });
    }
    const email = await this.emailOf(principal.userId);
    const enrolment = newTotpSecret(email);
    await transactions.run((trx) => savePendingTotp(trx, principal.userId, enrolment.secret, cipher, clock.now().toISOString()));
    return enrolment;
  }

  /** Activates the pending TOTP factor with its first code, and issues the recovery codes. */
  async confirmTotp(principal: MemberPrincipal, code: string, ip: string): Promise<{ recoveryCodes: string[] }> {
    const { db, keyRing, clock, transactions } = this.services;
    const factor = await findTotpFactor(db, principal.userId, keyRing.systemCipher());
    if (!factor || factor.confirmed) {
      throw new AppError('CONFLICT', { message: 'There is no authenticator app waiting to be confirmed; start again.', details: { reason: 'no_pending_totp' } });
    }
    const check = await checkTotp(factor.secret, code, factor.lastUsedStep, clock.now());
    if (!check.ok) throw check.replay ? replayedCode() : wrongCode();
    const indexKey = await keyRing.blindIndexKey();
    const now = clock.now().toISOString();
    const codes = await transactions.run(async (trx) => {
      if (!(await consumeTotpStep(trx, principal.userId, check.step, now))) throw wrongCode();
      const recoveryCodes = await replaceRecoveryCodes(trx, principal.userId, indexKey, now);
      await this.notify(trx, principal.userId, 'totp_enabled', ip);
      return recoveryCodes;
    });
    await this.sessions.markVerified(principal.sessionId);
    this.recordChange(principal.userId, 'totp_enabled', ip);
    return { recoveryCodes: codes };
  }

  async removeTotp(principal: MemberPrincipal, proof: Proof, ip: string): Promise<void> {
    await this.reauthenticate(principal, proof, ip);
    const factors = await factorSummary(this.services.db, principal.userId);
    await this.assertMayRemove(principal, factors.webauthn === 0);
    const removed = await this.services.transactions.run(async (trx) => {
      if (!(await deleteTotpFactor(trx, principal.userId))) return false;
      // Recovery codes stand in for a factor; with no factor left they would be a bypass.
      if (factors.webauthn === 0) await deleteRecoveryCodes(trx, principal.userId);
      await this.notify(trx, principal.userId, 'totp_removed', ip);
      return true;
    });
    if (!removed) throw new AppError('NOT_FOUND', { message: 'No authenticator app is set up.' });
    this.recordChange(principal.userId, 'totp_removed', ip);
  }

  async regenerateRecoveryCodes(principal: MemberPrincipal, proof: Proof, ip: string): Promise<{ recoveryCodes: string[] }> {
    await this.reauthenticate(principal, proof, ip);
    const { db, keyRing, clock, transactions } = this.services;
    if (!(await hasSecondFactor(db, principal.userId))) throw new AppError('CONFLICT', { message: 'Set up a second factor before creating recovery codes.', details: { reason: 'second_factor_required' } });
    const indexKey = await keyRing.blindIndexKey();
    const recoveryCodes = await transactions.run(async (trx) => {
      const codes = await replaceRecoveryCodes(trx, principal.userId, indexKey, clock.now().toISOString());
      await this.notify(trx, principal.userId, 'recovery_codes_regenerated', ip);
      return codes;
    });
    this.recordChange(principal.userId, 'recovery_codes_regenerated', ip);
    return { recoveryCodes };
  }

  /**
   * The second step of sign-in. The challenge allows few attempts and expires in 5 minutes;
   * failures also count against the account's sign-in throttle, so fresh challenges do not buy
   * an attacker more guesses.
   */
  async completeSignIn(challengeToken: string, factor: SecondFactorInput, ip: string, userAgent?: string): Promise<SignedIn> {
    const { db, clock } = this.services;
    const challenge = await findOpenChallenge(db, clock, challengeToken);
    if (!challenge) throw closedChallenge();
    const email = await this.emailOf(challenge.userId);
    const subject = { email, ip };
    return this.throttle.guard(subject, () => this.checkSecondStep(challenge, factor, subject, userAgent));
  }

  private async checkSecondStep(
    challenge: NonNullable<Awaited<ReturnType<typeof findOpenChallenge>>>,
    factor: SecondFactorInput,
    subject: { email: string; ip: string },
    userAgent: string | undefined,
  ): Promise<SignedIn> {
    const { db, clock, transactions, securityEvents } = this.services;
    const { ip } = subject;
    await this.throttle.assertAllowed(subject);

    const check = await this.checkFactor(challenge.userId, factor, ip);
    const passed = check.ok;
    const replayed = check.replay === true;
    const usedRecoveryCode = passed && offeredMethod(factor) === 'recoveryCode';
    const now = clock.now().toISOString();
    if (!passed) {
      await countFailedAttempt(db, challenge.id);
      await this.throttle.recordFailure(subject);
      securityEvents.record({ type: 'signin.mfa', outcome: 'failure', userId: challenge.userId, ip, details: { method: factorMethod(factor) } });
      throw replayed ? replayedCode() : wrongCode();
    }
    const closed = await transactions.run(async (trx) => {
      if (!(await closeChallenge(trx, challenge.id, now))) return false;
      if (usedRecoveryCode) await this.notify(trx, challenge.userId, 'recovery_code_used', ip);
      return true;
    });
    if (!closed) throw closedChallenge();
    await this.throttle.recordSuccess(subject);
    if (usedRecoveryCode) this.recordChange(challenge.userId, 'recovery_code_used', ip);
    securityEvents.record({ type: 'signin.mfa', outcome: 'success', userId: challenge.userId, tenantId: challenge.tenantId, ip, details: { method: factorMethod(factor) } });
    return this.completion.issue(challenge.userId, challenge.tenantId, { ip, userAgent });
  }

  /** The offered factor, checked by its strategy; offering none fails like a wrong one. */
  private async checkFactor(userId: string, factor: SecondFactorInput, ip: string): Promise<FactorCheck> {
    switch (offeredMethod(factor)) {
      case 'totp':
        return this.factors.totp.verify(userId, factor.code!, { ip });
      case 'webauthn':
        return this.factors.webauthn.verify(userId, factor.webauthn!);
      case 'recoveryCode':
        return this.factors.recoveryCode.verify(userId, factor.recoveryCode!);
      case undefined:
        return { ok: false };
    }
  }

  /** Options for navigator.credentials.create(): a fresh check is needed, as for any factor change. */
  async webauthnRegistrationOptions(principal: MemberPrincipal, proof: Proof, ip: string) {
    await this.reauthenticate(principal, proof, ip);
    const { db, clock, config } = this.services;
    return registrationOptions(db, clock, config.webauthn, { id: principal.userId, email: await this.emailOf(principal.userId) });
  }

  /** Registers a passkey from its attestation; the first factor of an account also gets recovery codes. */
  async registerWebauthn(principal: MemberPrincipal, response: RegistrationResponseJSON, ip: string): Promise<{ id: string; recoveryCodes?: string[] }> {
    const { db, keyRing, clock, transactions, config } = this.services;
    const firstFactor = !(await hasSecondFactor(db, principal.userId));
    const indexKey = await keyRing.blindIndexKey();
    const result = await transactions.run(async (trx) => {
      const id = await registerCredential(trx, clock, config.webauthn, principal.userId, response);
      if (!id) return undefined;
      const recoveryCodes = firstFactor ? await replaceRecoveryCodes(trx, principal.userId, indexKey, clock.now().toISOString()) : undefined;
      await this.notify(trx, principal.userId, 'passkey_added', ip);
      return { id, ...(recoveryCodes ? { recoveryCodes } : {}) };
    });
    if (!result) throw new AppError('VALIDATION_FAILED', { message: 'The passkey registration could not be verified.', details: { field: 'response' } });
    this.recordChange(principal.userId, 'passkey_added', ip);
    return result;
  }

  async listWebauthn(principal: MemberPrincipal) {
    return (await listCredentials(this.services.db, principal.userId)).map((c) => ({ id: c.id, createdAt: c.createdAt, lastUsedAt: c.lastUsedAt, transports: c.transports }));
  }

  async removeWebauthn(principal: MemberPrincipal, id: string, proof: Proof, ip: string): Promise<void> {
    await this.reauthenticate(principal, proof, ip);
    const factors = await factorSummary(this.services.db, principal.userId);
    const last = !factors.totp && factors.webauthn <= 1;
    await this.assertMayRemove(principal, last);
    const removed = await this.services.transactions.run(async (trx) => {
      if (!(await deleteCredential(trx, principal.userId, id))) return false;
      if (last) await deleteRecoveryCodes(trx, principal.userId);
      await this.notify(trx, principal.userId, 'passkey_removed', ip);
      return true;
    });
    if (!removed) throw new AppError('NOT_FOUND');
    this.recordChange(principal.userId, 'passkey_removed', ip);
  }

  /** Options for navigator.credentials.get() during the second step of sign-in. */
  async webauthnSignInOptions(challengeToken: string) {
    const { db, clock, config } = this.services;
    const challenge = await findOpenChallenge(db, clock, challengeToken);
    if (!challenge) throw closedChallenge();
    if ((await factorSummary(db, challenge.userId)).webauthn === 0) throw new AppError('CONFLICT', { message: 'This account has no passkey.', details: { reason: 'no_passkey' } });
    return authenticationOptions(db, clock, config.webauthn, challenge.userId);
  }

  /** The tenant's requireMfa forbids removing a user's last factor. */
  private async assertMayRemove(principal: MemberPrincipal, lastFactor: boolean): Promise<void> {
    if (lastFactor && (await readTenantSettings(this.services.db, principal.tenantId)).requireMfa) {
      throw new AppError('CONFLICT', { message: 'Your organisation requires a second factor, so your only one cannot be removed.', details: { reason: 'last_required_factor' } });
    }
  }

  /**
   * Re-authentication: a password or a current code in this request, or a check on this session
   * within the last 5 minutes. A password or code given here refreshes the session's check. Factor
   * changes use it, and so do the tenant's most final acts (key rotation, deletion).
   */
  async reauthenticate(principal: MemberPrincipal, proof: Proof, ip: string): Promise<void> {
    const { db, clock } = this.services;
    if (proof.password !== undefined || proof.code !== undefined) {
      // A password, when given, takes precedence over a code.
      const { password: offered, code } = proof;
      let replayed = false;
      const ok = await this.throttle.attempt({ email: await this.emailOf(principal.userId), ip, purpose: 'step-up' }, async () => {
        if (offered === undefined) {
          const totp = await this.factors.totp.verify(principal.userId, code!, { ip });
          replayed = totp.replay;
          return totp.ok;
        }
        const user = await findUserCredentials(db, principal.userId);
        return user !== undefined && (await verifyPassword(user.passwordHash, offered));
      });
      if (!ok) {
        throw replayed ? replayedCode() : new AppError('UNAUTHENTICATED', { message: 'The password or code is not correct.', details: { reason: 'wrong_password_or_code' } });
      }
      await this.sessions.markVerified(principal.sessionId);
      return;
    }
    const verifiedAt = principal.sessionVerifiedAt ? new Date(principal.sessionVerifiedAt) : undefined;
    if (!verifiedAt || addSeconds(verifiedAt, REAUTHENTICATION_SECONDS) < clock.now()) {
      throw new AppError('REAUTHENTICATION_REQUIRED');
    }
  }

  /**
   * A factor change is a security event of its user (filed under each of their tenants, whose
   * owners see their members' factors change), recorded once the change has committed.
   */
  private recordChange(userId: string, change: AccountChange, ip: string): void {
    this.services.securityEvents.record({ type: ACCOUNT_CHANGE_EVENTS[change], outcome: 'success', userId, ip });
  }

  private async notify(trx: Kysely<DB>, userId: string, change: AccountChange, ip: string): Promise<void> {
    const { mail, keyRing, clock, config } = this.services;
    const to = await findUserEmail(trx, userId, keyRing.systemCipher());
    if (!to) return;
    await mail.send(trx, 'account-change', to, { change, at: clock.now().toISOString(), ip, publicUrl: config.publicUrl });
  }

  private async emailOf(userId: string): Promise<string> {
    const email = await findUserEmail(this.services.db, userId, this.services.keyRing.systemCipher());
    if (email === undefined) throw new AppError('UNAUTHENTICATED', { details: { reason: 'account_unavailable' } });
    return email;
  }
}

function factorMethod(factor: SecondFactorInput): string {
  return factor.webauthn ? 'webauthn' : factor.recoveryCode !== undefined ? 'recoveryCode' : 'totp';
}

/** Which factor is offered, when several are given: a code first, then a passkey, then a recovery code. */
function offeredMethod(factor: SecondFactorInput): FactorMethod | undefined {
  if (factor.code !== undefined) return 'totp';
  if (factor.webauthn !== undefined) return 'webauthn';
  if (factor.recoveryCode !== undefined) return 'recoveryCode';
  return undefined;
}

import type { Kysely } from 'kysely';
import type { AccountDeps } from './account-deps.js';
import type { DB } from '../../db/schema.js';
import type { MemberPrincipal } from '../../core/principal.js';
import { AppError } from '../../lib/app-error.js';
import { newBearerToken } from '../../lib/random-token.js';
import { addSeconds } from '../../lib/time.js';
import { blindIndex } from '../../keys/blind-index.js';
import { normaliseEmail } from '../email-address.js';
import { hashPassword, verifyPassword } from '../password-hasher.js';
import { assertAcceptablePassword } from '../password-policy.js';
import type { SessionStore, SessionView } from '../session-store.js';
import type { SignInThrottle } from '../sign-in-throttle.js';
import { findUserByEmailIndex, findUserCredentials, findUserEmail, markEmailVerified, setPasswordHash } from '../user-repository.js';
import { countPasswordResetsSince, findPasswordReset, insertPasswordReset, markPasswordResetUsed } from './password-reset-repository.js';
import { KeyedLock } from '../../lib/keyed-lock.js';

export const RESET_SECONDS = 30 * 60;
/** At most this many reset e-mails per account per hour: no mail-bombing through the reset form. */
const RESETS_PER_HOUR = 3;

/**
 * The signed-in user's own account: password change, password reset by e-mail, and their
 * sessions. A reset sets a password and nothing more: it signs nobody in, so the next sign-in
 * still asks for the second factor (ASVS 6.4.3).
 */
export class Account {
  /** One reset mail per address at a time in this process, so parallel requests cannot all pass the hourly count. */
  private readonly sending = new KeyedLock();

  constructor(
    private readonly services: AccountDeps,
    private readonly sessions: SessionStore,
    private readonly throttle: SignInThrottle,
  ) {}

  /** Always answers the same; mails a single-use link only when the address has an account. */
  requestPasswordReset(rawEmail: string, ip: string): Promise<void> {
    const email = normaliseEmail(rawEmail);
    return this.sending.run([email], () => this.sendResetLink(email, ip));
  }

  private async sendResetLink(email: string, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, mail, config, securityEvents } = this.services;
    const user = await findUserByEmailIndex(db, blindIndex(await keyRing.blindIndexKey(), 'email', email));
    if (!user || user.disabledAt !== null) {
      securityEvents.record({ type: 'password.reset.requested', outcome: 'refused', ip, details: { reason: 'unknown account' } });
      return;
    }
    const now = clock.now();
    if ((await countPasswordResetsSince(db, user.id, addSeconds(now, -3600).toISOString())) >= RESETS_PER_HOUR) {
      securityEvents.record({ type: 'password.reset.requested', outcome: 'refused', userId: user.id, ip, details: { reason: 'too many' } });
      return;
    }
    const token = newBearerToken('cfr_');
    const expiresAt = addSeconds(now, RESET_SECONDS).toISOString();
    await transactions.run(async (trx) => {
      await insertPasswordReset(trx, { userId: user.id, token, createdAt: now.toISOString(), expiresAt });
      await mail.send(trx, 'password-reset', email, { token, expiresAt, publicUrl: config.publicUrl });
    });
    securityEvents.record({ type: 'password.reset.requested', outcome: 'success', userId: user.id, ip });
  }

  async confirmPasswordReset(token: string, password: string, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, securityEvents } = this.services;
    const invalid = () => new AppError('UNAUTHENTICATED', { message: 'This reset link is not valid: it may have expired or been used.', details: { reason: 'invalid_token' } });
    const row = await findPasswordReset(db, token);
    const now = clock.now();
    if (!row || row.usedAt !== null || new Date(row.expiresAt) <= now) throw invalid();
    const email = await findUserEmail(db, row.userId, keyRing.systemCipher());
    if (email === undefined) throw invalid();
    assertAcceptablePassword(password, this.services.config.passwords.minLength, { email });
    const passwordHash = await hashPassword(password);
    await transactions.run(async (trx) => {
      if (!(await markPasswordResetUsed(trx, row.id, now.toISOString()))) throw invalid();
      await setPasswordHash(trx, row.userId, passwordHash);
      // The reset token came by e-mail: whoever used it owns the address.
      await markEmailVerified(trx, row.userId, now.toISOString());
      await this.notifyPasswordChanged(trx, email, ip);
    });
    // Whoever knew the old password is signed out everywhere, and guesses at it no longer count.
    await this.sessions.revokeAllForUser(row.userId);
    await this.throttle.clearAccount(email);
    securityEvents.record({ type: 'password.reset.completed', outcome: 'success', userId: row.userId, ip });
  }

  async changePassword(principal: MemberPrincipal, currentPassword: string, newPassword: string, ip: string): Promise<void> {
    const { db, keyRing, transactions, securityEvents, config } = this.services;
    const email = await findUserEmail(db, principal.userId, keyRing.systemCipher());
    const user = await findUserCredentials(db, principal.userId);
    if (!email || !user) throw new AppError('UNAUTHENTICATED', { details: { reason: 'account_unavailable' } });
    if (!(await this.throttle.attempt({ email, ip, purpose: 'step-up' }, () => verifyPassword(user.passwordHash, currentPassword)))) {
      securityEvents.record({ type: 'password.changed', outcome: 'failure', userId: principal.userId, tenantId: principal.tenantId, ip });
      throw new AppError('UNAUTHENTICATED', { message: 'The current password is not correct.', details: { reason: 'wrong_password' } });
    }
    assertAcceptablePassword(newPassword, config.passwords.minLength, { email });
    const passwordHash = await hashPassword(newPassword);
    await transactions.run(async (trx) => {
      await setPasswordHash(trx, principal.userId, passwordHash);
      await this.notifyPasswordChanged(trx, email, ip);
    });
    await this.sessions.revokeAllForUser(principal.userId, principal.sessionId);
    await this.sessions.markVerified(principal.sessionId);
    securityEvents.record({ type: 'password.changed', outcome: 'success', userId: principal.userId, tenantId: principal.tenantId, ip });
  }

  listSessions(principal: MemberPrincipal): Promise<SessionView[]> {
    return this.sessions.listForUser(principal.userId, principal.sessionId);
  }

  async endSession(principal: MemberPrincipal, sessionId: string): Promise<void> {
    if (!(await this.sessions.revokeOwn(principal.userId, sessionId))) throw new AppError('NOT_FOUND');
  }

  private async notifyPasswordChanged(trx: Kysely<DB>, to: string, ip: string): Promise<void> {
    const { mail, clock, config } = this.services;
    await mail.send(trx, 'password-changed', to, { at: clock.now().toISOString(), ip, publicUrl: config.publicUrl });
  }
}

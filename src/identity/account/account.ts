import type { Kysely } from 'kysely';
import type { Services } from '../../core/services.js';
import type { DB } from '../../db/schema.js';
import type { MemberPrincipal } from '../../core/principal.js';
import { AppError } from '../../lib/app-error.js';
import { newId } from '../../lib/ids.js';
import { hashToken, newBearerToken } from '../../lib/random-token.js';
import { addSeconds } from '../../lib/time.js';
import { blindIndex } from '../../keys/blind-index.js';
import { normaliseEmail } from '../email-address.js';
import type { Identity } from '../identity.js';
import { hashPassword, verifyPassword } from '../password-hasher.js';
import { assertAcceptablePassword } from '../password-policy.js';
import type { SessionView } from '../session-store.js';
import { findUserByEmailIndex, findUserCredentials, findUserEmail, markEmailVerified } from '../user-repository.js';

export const RESET_SECONDS = 30 * 60;
/** At most this many reset e-mails per account per hour: no mail-bombing through the reset form. */
const RESETS_PER_HOUR = 3;

/**
 * The signed-in user's own account: password change, password reset by e-mail, and their
 * sessions. A reset sets a password and nothing more: it signs nobody in, so the next sign-in
 * still asks for the second factor (ASVS 6.4.3).
 */
export class Account {
  constructor(
    private readonly services: Services,
    private readonly identity: Identity,
  ) {}

  /** Always answers the same; mails a single-use link only when the address has an account. */
  async requestPasswordReset(rawEmail: string, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, mail, config, securityEvents } = this.services;
    const email = normaliseEmail(rawEmail);
    const user = await findUserByEmailIndex(db, blindIndex(await keyRing.blindIndexKey(), 'email', email));
    if (!user || user.disabledAt !== null) {
      securityEvents.record({ type: 'password.reset.requested', outcome: 'refused', ip, details: { reason: 'unknown account' } });
      return;
    }
    const now = clock.now();
    const recent = await db
      .selectFrom('password_resets')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('user_id', '=', user.id)
      .where('created_at', '>', addSeconds(now, -3600).toISOString())
      .executeTakeFirstOrThrow();
    if (Number(recent.n) >= RESETS_PER_HOUR) {
      securityEvents.record({ type: 'password.reset.requested', outcome: 'refused', userId: user.id, ip, details: { reason: 'too many' } });
      return;
    }
    const token = newBearerToken('cfr_');
    const expiresAt = addSeconds(now, RESET_SECONDS).toISOString();
    await transactions.run(async (trx) => {
      await trx
        .insertInto('password_resets')
        .values({ id: newId(), user_id: user.id, token_hash: hashToken(token), created_at: now.toISOString(), expires_at: expiresAt, used_at: null })
        .execute();
      await mail.enqueue(trx, keyRing.systemCipher(), {
        to: email,
        subject: 'Confide: reset your password',
        text: [
          'Someone asked to reset the password of your Confide account.',
          '',
          `Choose a new password: ${config.publicUrl}/reset-password#token=${token}`,
          '',
          'The link opens a page that says what the token is for and sets the new password.',
          'Without a browser, send the token to the API with the new password (it answers 204):',
          '',
          `  POST ${config.publicUrl}/v1/password-resets/confirm`,
          '  Content-Type: application/json',
          `  {"token": "${token}", "password": "<new password>"}`,
          '',
          `The link works once and expires at ${expiresAt} (UTC). Your second factor, if you have one, stays as it is.`,
          'If you did not ask for this, ignore this e-mail: your password has not changed.',
        ].join('\n'),
      });
    });
    void mail.kick();
    securityEvents.record({ type: 'password.reset.requested', outcome: 'success', userId: user.id, ip });
  }

  async confirmPasswordReset(token: string, password: string, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, securityEvents } = this.services;
    const invalid = () => new AppError('UNAUTHENTICATED', { message: 'This reset link is not valid: it may have expired or been used.' });
    const row = await db.selectFrom('password_resets').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    const now = clock.now();
    if (!row || row.used_at !== null || new Date(row.expires_at) <= now) throw invalid();
    const email = await findUserEmail(db, row.user_id, keyRing.systemCipher());
    if (email === undefined) throw invalid();
    assertAcceptablePassword(password, this.services.config.passwords.minLength, { email });
    const passwordHash = await hashPassword(password);
    await transactions.run(async (trx) => {
      const used = await trx
        .updateTable('password_resets')
        .set({ used_at: now.toISOString() })
        .where('id', '=', row.id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (used.numUpdatedRows === 0n) throw invalid();
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', row.user_id).execute();
      // The reset token came by e-mail: whoever used it owns the address.
      await markEmailVerified(trx, row.user_id, now.toISOString());
      await this.notifyPasswordChanged(trx, email, ip);
    });
    // Whoever knew the old password is signed out everywhere, and guesses at it no longer count.
    await this.identity.sessions.revokeAllForUser(row.user_id);
    await this.identity.throttle.clearAccount(email);
    void this.services.mail.kick();
    securityEvents.record({ type: 'password.reset.completed', outcome: 'success', userId: row.user_id, ip });
  }

  async changePassword(principal: MemberPrincipal, currentPassword: string, newPassword: string, ip: string): Promise<void> {
    const { db, keyRing, transactions, securityEvents, config } = this.services;
    const email = await findUserEmail(db, principal.userId, keyRing.systemCipher());
    const user = await findUserCredentials(db, principal.userId);
    if (!email || !user) throw new AppError('UNAUTHENTICATED');
    if (!(await this.identity.throttle.attempt({ email, ip, purpose: 'step-up' }, () => verifyPassword(user.passwordHash, currentPassword)))) {
      securityEvents.record({ type: 'password.changed', outcome: 'failure', userId: principal.userId, tenantId: principal.tenantId, ip });
      throw new AppError('UNAUTHENTICATED', { message: 'The current password is not correct.' });
    }
    assertAcceptablePassword(newPassword, config.passwords.minLength, { email });
    const passwordHash = await hashPassword(newPassword);
    await transactions.run(async (trx) => {
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', principal.userId).execute();
      await this.notifyPasswordChanged(trx, email, ip);
    });
    await this.identity.sessions.revokeAllForUser(principal.userId, principal.sessionId);
    await this.identity.sessions.markVerified(principal.sessionId);
    void this.services.mail.kick();
    securityEvents.record({ type: 'password.changed', outcome: 'success', userId: principal.userId, tenantId: principal.tenantId, ip });
  }

  listSessions(principal: MemberPrincipal): Promise<SessionView[]> {
    return this.identity.sessions.listForUser(principal.userId, principal.sessionId);
  }

  async endSession(principal: MemberPrincipal, sessionId: string): Promise<void> {
    if (!(await this.identity.sessions.revokeOwn(principal.userId, sessionId))) throw new AppError('NOT_FOUND');
  }

  private async notifyPasswordChanged(trx: Kysely<DB>, to: string, ip: string): Promise<void> {
    const { mail, keyRing, clock, config } = this.services;
    await mail.enqueue(trx, keyRing.systemCipher(), {
      to,
      subject: 'Confide: your password was changed',
      text: [
        `The password of your Confide account was changed at ${clock.now().toISOString()} (UTC) from ${ip}.`,
        'Every other session of your account was signed out.',
        '',
        `If this was not you, reset your password at ${config.publicUrl} and tell your organisation’s administrator.`,
      ].join('\n'),
    });
  }
}

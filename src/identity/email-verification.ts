import type { Kysely } from 'kysely';
import type { EmailVerificationDeps } from './identity-deps.js';
import type { DB } from '../db/schema.js';
import type { MemberPrincipal } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { newBearerToken } from '../lib/random-token.js';
import { addSeconds, secondsUntil } from '../lib/time.js';
import { findUserEmail, markEmailVerified } from './user-repository.js';
import { findEmailVerification, insertEmailVerification, listEmailVerificationTimesSince, markEmailVerificationUsed } from './email-verification-repository.js';
import { KeyedLock } from '../lib/keyed-lock.js';

export const VERIFICATION_SECONDS = 24 * 3600;
/** At most this many verification e-mails per account per hour: no mail-bombing a stranger. */
const LINKS_PER_HOUR = 3;
export const VERIFICATION_TOKEN_PREFIX = 'cfv_';

const invalidLink = () => new AppError('UNAUTHENTICATED', { message: 'This verification link is not valid: it may have expired or been used.', details: { reason: 'invalid_token' } });

/**
 * Proof that a user owns their e-mail address, against account pre-hijacking: without it, anyone
 * could sign up with a victim's address, invite an accomplice, and keep access after the victim
 * takes the account back. Until the address is verified the user may sign in, see who they are
 * and sign out, nothing else (403 EMAIL_NOT_VERIFIED). The link carries a single-use 256-bit
 * token, valid 24 h, in its fragment (never sent to a server by a browser, never in a log).
 */
export class EmailVerifications {
  /** One send per account at a time in this process, so parallel requests cannot all pass the hourly count. */
  private readonly sending = new KeyedLock();

  constructor(private readonly services: EmailVerificationDeps) {}

  /** Queues a verification link to `email` inside the caller's transaction (sent once it commits). */
  async issue(trx: Kysely<DB>, userId: string, email: string, ip: string): Promise<void> {
    const { clock, mail, config } = this.services;
    const token = newBearerToken(VERIFICATION_TOKEN_PREFIX);
    const now = clock.now();
    const expiresAt = addSeconds(now, VERIFICATION_SECONDS).toISOString();
    await insertEmailVerification(trx, { userId, token, createdAt: now.toISOString(), expiresAt });
    await mail.send(trx, 'email-verification', email, { token, expiresAt, publicUrl: config.publicUrl, requestedAt: now.toISOString(), requestedFrom: ip });
  }

  /** Sends a fresh link to the signed-in user (at most LINKS_PER_HOUR an hour). */
  resend(principal: MemberPrincipal, ip: string): Promise<void> {
    return this.sending.run([principal.userId], () => this.resendNow(principal, ip));
  }

  private async resendNow(principal: MemberPrincipal, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, securityEvents } = this.services;
    if (principal.emailVerified) {
      throw new AppError('CONFLICT', { message: 'Your e-mail address is already verified.', details: { reason: 'already_verified' } });
    }
    const email = await findUserEmail(db, principal.userId, keyRing.systemCipher());
    if (email === undefined) throw new AppError('UNAUTHENTICATED', { details: { reason: 'account_unavailable' } });
    const now = clock.now();
    const recent = await listEmailVerificationTimesSince(db, principal.userId, addSeconds(now, -3600).toISOString());
    if (recent.length >= LINKS_PER_HOUR) {
      throw new AppError('RATE_LIMITED', {
        message: 'Several links were sent in the last hour; use one of them, or try again later.',
        // The oldest link of the hour leaves the window first.
        retryAfterSeconds: secondsUntil(addSeconds(new Date(recent[0]!), 3600), now),
      });
    }
    await transactions.run((trx) => this.issue(trx, principal.userId, email, ip));
    securityEvents.record({ type: 'email.verification.sent', outcome: 'success', userId: principal.userId, tenantId: principal.tenantId, ip });
  }

  /** Uses a link token: the address is verified from now on. */
  async confirm(token: string, ip: string): Promise<void> {
    const { db, clock, transactions, securityEvents } = this.services;
    const row = await findEmailVerification(db, token);
    const now = clock.now().toISOString();
    if (!row || row.usedAt !== null || row.expiresAt <= now) throw invalidLink();
    await transactions.run(async (trx) => {
      if (!(await markEmailVerificationUsed(trx, row.id, now))) throw invalidLink();
      await markEmailVerified(trx, row.userId, now);
    });
    securityEvents.record({ type: 'email.verified', outcome: 'success', userId: row.userId, ip });
  }
}

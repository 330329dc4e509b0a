import type { Kysely } from 'kysely';
import type { Services } from '../core/services.js';
import type { DB } from '../db/schema.js';
import type { MemberPrincipal } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds } from '../lib/time.js';
import { findUserEmail, markEmailVerified } from './user-repository.js';

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
  constructor(private readonly services: Services) {}

  /** Queues a verification link to `email` inside the caller's transaction; `kick()` the mail after commit. */
  async issue(trx: Kysely<DB>, userId: string, email: string): Promise<void> {
    const { keyRing, clock, mail, config } = this.services;
    const token = newBearerToken(VERIFICATION_TOKEN_PREFIX);
    const now = clock.now();
    const expiresAt = addSeconds(now, VERIFICATION_SECONDS).toISOString();
    await trx
      .insertInto('email_verifications')
      .values({ id: newId(), user_id: userId, token_hash: hashToken(token), created_at: now.toISOString(), expires_at: expiresAt, used_at: null })
      .execute();
    // Plain ASCII, the token on a line of its own: it survives any mail client and copy-paste.
    await mail.enqueue(trx, keyRing.systemCipher(), {
      to: email,
      subject: 'Confide: confirm your e-mail address',
      text: [
        'Confirm that this address is yours to finish setting up your Confide account:',
        '',
        `${config.publicUrl}/verify-email#token=${token}`,
        '',
        'The link opens a page that says what the token is for and confirms the address.',
        'Without a browser, send the token to the API (it answers 204 when the address is confirmed):',
        '',
        `  POST ${config.publicUrl}/v1/email-verifications/confirm`,
        '  Content-Type: application/json',
        `  {"token": "${token}"}`,
        '',
        `The link works once and expires at ${expiresAt} (UTC).`,
        'If you did not create an account, ignore this e-mail: nothing happens without the link.',
      ].join('\n'),
    });
  }

  /** Sends a fresh link to the signed-in user (at most LINKS_PER_HOUR an hour). */
  async resend(principal: MemberPrincipal, ip: string): Promise<void> {
    const { db, keyRing, clock, transactions, mail, securityEvents } = this.services;
    if (principal.emailVerified) {
      throw new AppError('CONFLICT', { message: 'Your e-mail address is already verified.', details: { reason: 'already_verified' } });
    }
    const email = await findUserEmail(db, principal.userId, keyRing.systemCipher());
    if (email === undefined) throw new AppError('UNAUTHENTICATED');
    const now = clock.now();
    const recent = await db
      .selectFrom('email_verifications')
      .select(['created_at'])
      .where('user_id', '=', principal.userId)
      .where('created_at', '>', addSeconds(now, -3600).toISOString())
      .orderBy('created_at', 'asc')
      .execute();
    if (recent.length >= LINKS_PER_HOUR) {
      const retryAt = addSeconds(new Date(recent[0]!.created_at), 3600);
      throw new AppError('RATE_LIMITED', {
        message: 'Several links were sent in the last hour; use one of them, or try again later.',
        retryAfterSeconds: Math.max(1, Math.ceil((retryAt.getTime() - now.getTime()) / 1000)),
      });
    }
    await transactions.run((trx) => this.issue(trx, principal.userId, email));
    void mail.kick();
    securityEvents.record({ type: 'email.verification.sent', outcome: 'success', userId: principal.userId, tenantId: principal.tenantId, ip });
  }

  /** Uses a link token: the address is verified from now on. */
  async confirm(token: string, ip: string): Promise<void> {
    const { db, clock, transactions, securityEvents } = this.services;
    const row = await db.selectFrom('email_verifications').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    const now = clock.now().toISOString();
    if (!row || row.used_at !== null || row.expires_at <= now) throw invalidLink();
    await transactions.run(async (trx) => {
      const used = await trx
        .updateTable('email_verifications')
        .set({ used_at: now })
        .where('id', '=', row.id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (used.numUpdatedRows === 0n) throw invalidLink();
      await markEmailVerified(trx, row.user_id, now);
    });
    securityEvents.record({ type: 'email.verified', outcome: 'success', userId: row.user_id, ip });
  }
}

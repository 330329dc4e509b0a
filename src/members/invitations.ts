import type { Kysely } from 'kysely';
import type { Services } from '../core/services.js';
import type { DB } from '../db/schema.js';
import { actorOf, type Caller, type Role } from '../core/principal.js';
import { requireMember } from '../core/policies.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds } from '../lib/time.js';
import { blindIndex } from '../keys/blind-index.js';
import { findTenantName } from '../tenants/tenant-repository.js';
import { isPlausibleEmail, normaliseEmail } from '../identity/email-address.js';
import type { Identity, MfaRequired, SignedIn } from '../identity/identity.js';
import { hashPassword, verifyPassword } from '../identity/password-hasher.js';
import { assertAcceptablePassword } from '../identity/password-policy.js';
import { findUserByEmailIndex, insertMembership, insertUser, markEmailVerified } from '../identity/user-repository.js';
import { openChallenge } from '../identity/mfa/mfa-challenges.js';
import { factorSummary, methodsFor } from '../identity/mfa/second-factors.js';
import { findRole } from './member-repository.js';

export const INVITATION_SECONDS = 7 * 24 * 3600;
const emailLocation = (id: string) => ({ table: 'invitations', rowId: id, field: 'email' });
const invalidInvitation = () => new AppError('UNAUTHENTICATED', { message: 'This invitation is not valid: it may have expired or been used.' });

/**
 * Invitations by e-mail: a single-use link token, valid 7 days, that travels only in the e-mail
 * (in the link's fragment, which browsers never send to a server). A new user sets a password; an
 * existing user proves theirs (and their second factor) and joins.
 */
export class Invitations {
  constructor(
    private readonly services: Services,
    private readonly identity: Identity,
  ) {}

  async invite(caller: Caller, input: { email: string; role: Role }): Promise<{ id: string; expiresAt: string }> {
    const actor = requireMember(caller.principal);
    const { db, keyRing, clock, transactions, mail, config, securityEvents } = this.services;
    if (input.role === 'owner' && actor.role !== 'owner') throw new AppError('FORBIDDEN', { message: 'Only an owner can invite an owner.' });
    const email = normaliseEmail(input.email);
    if (!isPlausibleEmail(email)) throw new AppError('VALIDATION_FAILED', { message: 'The e-mail address is not valid.', details: { field: 'email' } });

    const tenantId = actor.tenantId;
    await this.assertWithinLimits(tenantId);
    const emailIndex = blindIndex(await keyRing.blindIndexKey(), 'email', email);
    const existing = await findUserByEmailIndex(db, emailIndex);
    if (existing && (await findRole(db, tenantId, existing.id))) {
      throw new AppError('CONFLICT', { message: 'This person is already a member.', details: { field: 'email' } });
    }
    const cipher = await keyRing.cipherFor(tenantId);
    const organization = (await findTenantName(db, tenantId, cipher)) ?? 'your organisation';
    const token = newBearerToken('cfi_');
    const id = newId();
    const now = clock.now();
    const expiresAt = addSeconds(now, INVITATION_SECONDS).toISOString();
    await transactions.run(async (trx) => {
      await trx
        .insertInto('invitations')
        .values({
          id,
          tenant_id: tenantId,
          email_enc: cipher.encrypt(email, emailLocation(id)),
          email_index: emailIndex,
          role: input.role,
          token_hash: hashToken(token),
          invited_by: actor.userId,
          created_at: now.toISOString(),
          expires_at: expiresAt,
          accepted_at: null,
          revoked_at: null,
        })
        .execute();
      await mail.enqueue(trx, keyRing.systemCipher(), {
        to: email,
        subject: `Confide: you are invited to join ${organization}`,
        text: [
          `You have been invited to join ${organization} on Confide as ${input.role === 'admin' ? 'an admin' : `a ${input.role}`}.`,
          '',
          `Accept the invitation: ${config.publicUrl}/accept-invitation#token=${token}`,
          '',
          'The link opens a page that says what the token is for and accepts the invitation.',
          'Without a browser, send the token to the API with a password: a new one for your account,',
          'or, if this address already has a Confide account, that account\'s password. It answers 201',
          'with a session, as signing in does (POST /v1/sessions):',
          '',
          `  POST ${config.publicUrl}/v1/invitations/accept`,
          '  Content-Type: application/json',
          `  {"token": "${token}", "password": "<password>"}`,
          '',
          `The invitation works once and expires on ${expiresAt} (UTC). If you did not expect it, ignore this e-mail.`,
        ].join('\n'),
      });
    });
    void mail.kick();
    securityEvents.record({ type: 'member.invited', outcome: 'success', tenantId, userId: actor.userId, ip: caller.ip, details: { invitationId: id, role: input.role } });
    return { id, expiresAt };
  }

  /** Accepts an invitation: creates the user (new address) or adds the existing user, then signs in. */
  async accept(input: { token: string; password?: string; ip: string; userAgent?: string }): Promise<SignedIn | MfaRequired> {
    const { db, keyRing, clock, transactions, config, securityEvents } = this.services;
    const row = await db.selectFrom('invitations').selectAll().where('token_hash', '=', hashToken(input.token)).executeTakeFirst();
    const now = clock.now();
    if (!row || row.accepted_at !== null || row.revoked_at !== null || new Date(row.expires_at) <= now) throw invalidInvitation();
    const cipher = await keyRing.cipherFor(row.tenant_id);
    const email = cipher.decrypt(row.email_enc, emailLocation(row.id));
    if (input.password === undefined) {
      throw new AppError('VALIDATION_FAILED', { message: 'A password is required to accept an invitation.', details: { field: 'password' } });
    }
    const existing = await findUserByEmailIndex(db, row.email_index);
    const accepted = { tenantId: row.tenant_id, role: row.role, createdAt: now.toISOString() };
    const markAccepted = async (trx: Kysely<DB>) => {
      const result = await trx
        .updateTable('invitations')
        .set({ accepted_at: accepted.createdAt })
        .where('id', '=', row.id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw invalidInvitation();
    };

    let userId: string;
    if (existing) {
      const password = input.password;
      const proven = await this.identity.throttle.attempt({ email, ip: input.ip }, async () => existing.disabledAt === null && (await verifyPassword(existing.passwordHash, password)));
      if (!proven) {
        throw new AppError('UNAUTHENTICATED', { message: 'This address already has an account: enter that account’s password to join.' });
      }
      userId = existing.id;
      await transactions.run(async (trx) => {
        await markAccepted(trx);
        await markEmailVerified(trx, userId, accepted.createdAt);
        if (!(await findRole(trx, row.tenant_id, userId))) await insertMembership(trx, { ...accepted, userId });
      });
    } else {
      const organization = (await findTenantName(db, row.tenant_id, cipher)) ?? '';
      assertAcceptablePassword(input.password, config.passwords.minLength, { email, organization });
      const passwordHash = await hashPassword(input.password);
      userId = newId();
      try {
        await transactions.run(async (trx) => {
          await markAccepted(trx);
          // The token came by e-mail to this address: accepting proves the address.
          await insertUser(trx, { id: userId, email, emailIndex: row.email_index, passwordHash, createdAt: accepted.createdAt, emailVerifiedAt: accepted.createdAt }, keyRing.systemCipher());
          await insertMembership(trx, { ...accepted, userId });
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw invalidInvitation();
        throw error;
      }
    }
    securityEvents.record({ type: 'member.joined', outcome: 'success', tenantId: row.tenant_id, userId, ip: input.ip, details: { invitationId: row.id } });
    const factors = await factorSummary(db, userId);
    if (factors.totp || factors.webauthn > 0) {
      return { mfaRequired: true, challenge: await openChallenge(db, clock, userId, row.tenant_id), methods: methodsFor(factors) };
    }
    const session = await this.identity.sessions.issue(userId, row.tenant_id, { ip: input.ip, userAgent: input.userAgent });
    return { ...session, tenantId: row.tenant_id, userId };
  }

  /** The tenant's pending invitations (not accepted, revoked or expired), oldest first. */
  async listPending(caller: Caller): Promise<InvitationView[]> {
    const { db, keyRing, clock } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const rows = await pendingInvitations(db, tenantId, clock.now().toISOString())
      .select(['id', 'email_enc', 'role', 'created_at', 'expires_at', 'invited_by'])
      .orderBy('created_at', 'asc')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      email: cipher.decrypt(row.email_enc, emailLocation(row.id)),
      role: row.role,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      invitedBy: row.invited_by,
    }));
  }

  /** Withdraws a pending invitation: its token stops working at once. */
  async revoke(caller: Caller, id: string): Promise<void> {
    const { db, clock, securityEvents } = this.services;
    const tenantId = caller.principal.tenantId;
    const now = clock.now().toISOString();
    const result = await db
      .updateTable('invitations')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound();
    securityEvents.record({ type: 'member.invitation.revoked', outcome: 'success', tenantId, actor: actorOf(caller.principal), ip: caller.ip, details: { invitationId: id } });
  }

  /**
   * Invitations send e-mail that names the organisation: capped per tenant per hour (revoked ones
   * count, so revoking buys no extra sends) and in how many may wait at once.
   */
  private async assertWithinLimits(tenantId: string): Promise<void> {
    const { db, clock, config } = this.services;
    const now = clock.now();
    const perHour = config.limits.invitationsPerTenantPerHour;
    const recent = await db
      .selectFrom('invitations')
      .select('created_at')
      .where('tenant_id', '=', tenantId)
      .where('created_at', '>', addSeconds(now, -3600).toISOString())
      .orderBy('created_at', 'desc')
      .limit(perHour)
      .execute();
    if (recent.length >= perHour) {
      const retryAt = addSeconds(new Date(recent[recent.length - 1]!.created_at), 3600);
      throw new AppError('RATE_LIMITED', {
        message: `At most ${perHour} invitations may be sent per hour.`,
        details: { resource: 'invitations', limit: perHour },
        retryAfterSeconds: Math.max(1, Math.ceil((retryAt.getTime() - now.getTime()) / 1000)),
      });
    }
    const pendingLimit = config.limits.pendingInvitationsPerTenant;
    const pending = await pendingInvitations(db, tenantId, now.toISOString())
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(pending.n) >= pendingLimit) {
      throw new AppError('LIMIT_REACHED', {
        message: `At most ${pendingLimit} invitations may wait to be accepted; revoke some first.`,
        details: { resource: 'pendingInvitations', limit: pendingLimit },
      });
    }
  }
}

export interface InvitationView {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
  invitedBy: string;
}

function pendingInvitations(db: Kysely<DB>, tenantId: string, now: string) {
  return db
    .selectFrom('invitations')
    .where('tenant_id', '=', tenantId)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now);
}

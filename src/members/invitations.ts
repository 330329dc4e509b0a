import type { Kysely } from 'kysely';
import type { InvitationsDeps } from './members-deps.js';
import type { DB } from '../db/schema.js';
import { actorOf, type Caller, type Role } from '../core/principal.js';
import { authorize, requireMember } from '../core/policies.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { AppError, notFound } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { newBearerToken } from '../lib/random-token.js';
import { addSeconds, secondsUntil } from '../lib/time.js';
import { blindIndex } from '../keys/blind-index.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { findTenantName } from '../tenants/tenant-repository.js';
import { isPlausibleEmail, normaliseEmail } from '../identity/email-address.js';
import type { MfaRequired, SignedIn, SignInCompletion } from '../identity/sign-in-completion.js';
import type { SignInThrottle } from '../identity/sign-in-throttle.js';
import { hashPassword, verifyPassword } from '../identity/password-hasher.js';
import { assertAcceptablePassword } from '../identity/password-policy.js';
import { findUserByEmailIndex, insertMembership, insertUser, markEmailVerified } from '../identity/user-repository.js';
import { findRole } from './member-repository.js';
import { KeyedLock } from '../lib/keyed-lock.js';
import {
  countPendingInvitations,
  findInvitationByToken,
  insertInvitation,
  listInvitationTimesSince,
  listPendingInvitations,
  markInvitationAccepted,
  revokePendingInvitation,
} from './invitation-repository.js';

export const INVITATION_SECONDS = 7 * 24 * 3600;
const invalidInvitation = () => new AppError('UNAUTHENTICATED', { message: 'This invitation is not valid: it may have expired or been used.', details: { reason: 'invalid_token' } });

/**
 * Invitations by e-mail: a single-use link token, valid 7 days, that travels only in the e-mail
 * (in the link's fragment, which browsers never send to a server). A new user sets a password; an
 * existing user proves theirs (and their second factor) and joins.
 */
export class Invitations {
  private readonly sending = new KeyedLock();

  constructor(
    private readonly services: InvitationsDeps,
    private readonly throttle: SignInThrottle,
    private readonly completion: SignInCompletion,
  ) {}

  async invite(caller: Caller, input: { email: string; role: Role }): Promise<{ id: string; expiresAt: string }> {
    const actor = requireMember(caller.principal);
    const { db, keyRing, clock, transactions, mail, config, securityEvents } = this.services;
    authorize(actor, 'invitations.create', { tenantId: actor.tenantId, role: input.role });
    const email = normaliseEmail(input.email);
    if (!isPlausibleEmail(email)) throw new AppError('VALIDATION_FAILED', { message: 'The e-mail address is not valid.', details: { field: 'email' } });

    const tenantId = actor.tenantId;
    // One invitation of a tenant at a time in this process: the caps are counted, then the row is
    // written, and parallel sends must not all count the same "room left".
    return this.sending.run([tenantId], async () => {
      await this.assertWithinLimits(tenantId);
      const emailIndex = blindIndex(await keyRing.blindIndexKey(), 'email', email);
      const existing = await findUserByEmailIndex(db, emailIndex);
      if (existing && (await findRole(db, tenantId, existing.id))) {
        throw new AppError('CONFLICT', { message: 'This person is already a member.', details: { field: 'email', reason: 'already_member' } });
      }
      const cipher = await keyRing.cipherFor(tenantId);
      const organization = (await findTenantName(db, tenantId, cipher)) ?? 'your organisation';
      const token = newBearerToken('cfi_');
      const id = newId();
      const now = clock.now();
      const expiresAt = addSeconds(now, INVITATION_SECONDS).toISOString();
      await transactions.run(async (trx) => {
        const invitation = { id, tenantId, email, emailIndex, role: input.role, token, invitedBy: actor.userId, createdAt: now.toISOString(), expiresAt };
        await insertInvitation(trx, invitation, cipher);
        await mail.send(trx, 'invitation', email, { organization, role: input.role, token, expiresAt, publicUrl: config.publicUrl });
      });
      securityEvents.record({ type: 'member.invited', outcome: 'success', tenantId, userId: actor.userId, ip: caller.ip, details: { invitationId: id, role: input.role } });
      return { id, expiresAt };
    });
  }

  /** Accepts an invitation: creates the user (new address) or adds the existing user, then signs in. */
  async accept(input: { token: string; password?: string; ip: string; userAgent?: string }): Promise<SignedIn | MfaRequired> {
    const { db, keyRing, clock, transactions, config, securityEvents } = this.services;
    const row = await findInvitationByToken(db, input.token);
    const now = clock.now();
    if (!row || row.accepted_at !== null || row.revoked_at !== null || new Date(row.expires_at) <= now) throw invalidInvitation();
    const cipher = await keyRing.cipherFor(row.tenant_id);
    const email = cipher.decrypt(row.email_enc, ENCRYPTED_FIELDS.invitationsEmail.location(row));
    const subject = { email, ip: input.ip };
    if (input.password === undefined) {
      throw new AppError('VALIDATION_FAILED', { message: 'A password is required to accept an invitation.', details: { field: 'password' } });
    }
    const existing = await findUserByEmailIndex(db, row.email_index);
    const accepted = { tenantId: row.tenant_id, role: row.role, createdAt: now.toISOString() };
    const markAccepted = async (trx: Kysely<DB>) => {
      if (!(await markInvitationAccepted(trx, row.id, accepted.createdAt))) throw invalidInvitation();
    };

    let userId: string;
    if (existing) {
      const password = input.password;
      const proven = await this.throttle.attempt(subject, async () => existing.disabledAt === null && (await verifyPassword(existing.passwordHash, password)));
      if (!proven) {
        throw new AppError('UNAUTHENTICATED', { message: 'This address already has an account: enter that account’s password to join.', details: { reason: 'invalid_credentials' } });
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
    // A right password here counts as a sign-in for the throttle, as at POST /v1/sessions.
    const clearThrottle = existing ? () => this.throttle.recordSuccess(subject) : undefined;
    return this.completion.afterPassword(userId, row.tenant_id, { ip: input.ip, userAgent: input.userAgent }, clearThrottle);
  }

  /** The tenant's pending invitations (not accepted, revoked or expired), oldest first. */
  async listPending(caller: Caller): Promise<InvitationView[]> {
    const { db, keyRing, clock } = this.services;
    const tenantId = caller.principal.tenantId;
    const cipher = await keyRing.cipherFor(tenantId);
    const rows = await listPendingInvitations(db, tenantId, clock.now().toISOString());
    return rows.map((row) => ({
      id: row.id,
      email: cipher.decrypt(row.email_enc, ENCRYPTED_FIELDS.invitationsEmail.location(row)),
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
    if (!(await revokePendingInvitation(db, tenantId, id, now))) throw notFound();
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
    const recent = await listInvitationTimesSince(db, tenantId, addSeconds(now, -3600).toISOString(), perHour);
    if (recent.length >= perHour) {
      throw new AppError('RATE_LIMITED', {
        message: `At most ${perHour} invitations may be sent per hour.`,
        details: { resource: 'invitations', limit: perHour },
        // `recent` is newest first: its last is the oldest of the hour, which leaves the window first.
        retryAfterSeconds: secondsUntil(addSeconds(new Date(recent[recent.length - 1]!), 3600), now),
      });
    }
    const pendingLimit = config.limits.pendingInvitationsPerTenant;
    if ((await countPendingInvitations(db, tenantId, now.toISOString())) >= pendingLimit) {
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

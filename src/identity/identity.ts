import type { IdentityDeps } from './identity-deps.js';
import type { MemberPrincipal, Role } from '../core/principal.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { blindIndex } from '../keys/blind-index.js';
import { SYSTEM_OWNER } from '../keys/key-ring.js';
import { createTenant } from '../tenants/create-tenant.js';
import { findTenantName } from '../tenants/tenant-repository.js';
import { isPlausibleEmail, normaliseEmail } from './email-address.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password-hasher.js';
import { assertAcceptablePassword } from './password-policy.js';
import type { SessionStore } from './session-store.js';
import type { SignInThrottle } from './sign-in-throttle.js';
import type { MfaRequired, SignedIn, SignInCompletion } from './sign-in-completion.js';
import { EmailVerifications } from './email-verification.js';
import { assertPrintableName } from '../lib/printable-name.js';
import { factorSummary } from './mfa/second-factors.js';
import { securityEventTargetIndex } from '../security-events/security-event-store.js';
import {
  findUserByEmailIndex,
  findUserEmail,
  insertMembership,
  insertUser,
  listMemberships,
} from './user-repository.js';

export interface SignUpInput {
  organization: string;
  email: string;
  password: string;
}

export interface SignInInput {
  email: string;
  password: string;
  tenantId?: string;
  ip: string;
  userAgent?: string;
}

export type { MfaRequired, SignedIn } from './sign-in-completion.js';

const invalidCredentials = () =>
  new AppError('UNAUTHENTICATED', { message: 'The e-mail address or password is not correct.', details: { reason: 'invalid_credentials' } });

/** Sign-up, sign-in, sign-out and "who am I": the identity use cases of the foundation. */
export class Identity {
  readonly emailVerifications: EmailVerifications;

  /** The session store and the throttle are built once in the wiring and shared with the other identity use cases. */
  constructor(
    private readonly services: IdentityDeps,
    private readonly sessions: SessionStore,
    private readonly throttle: SignInThrottle,
    private readonly completion: SignInCompletion,
  ) {
    this.emailVerifications = new EmailVerifications(services);
  }

  /**
   * Creates a tenant and its owner, and e-mails the owner a link to verify the address: until
   * then the account can do nothing but sign in and out. The password is checked against the policy first.
   */
  async signUp(input: SignUpInput, ip: string) {
    const { db, keyRing, clock, config } = this.services;
    const organization = assertPrintableName(input.organization, 'organization');
    const email = normaliseEmail(input.email);
    if (!isPlausibleEmail(email)) {
      throw new AppError('VALIDATION_FAILED', { message: 'The e-mail address is not valid.', details: { field: 'email' } });
    }
    assertAcceptablePassword(input.password, config.passwords.minLength, { email, organization });

    const emailIndex = await this.emailIndex(email);
    if (await findUserByEmailIndex(db, emailIndex)) throw emailTaken();

    const passwordHash = await hashPassword(input.password);
    const systemCipher = await keyRing.cipherFor(SYSTEM_OWNER);
    const tenant = { id: newId(), name: organization, createdAt: clock.now().toISOString() };
    const user = { id: newId(), email };
    try {
      await this.services.transactions.run(async (trx) => {
        await createTenant(this.services, trx, tenant);
        await insertUser(trx, { ...user, emailIndex, passwordHash, createdAt: tenant.createdAt, emailVerifiedAt: null }, systemCipher);
        await insertMembership(trx, { tenantId: tenant.id, userId: user.id, role: 'owner', createdAt: tenant.createdAt });
        await this.emailVerifications.issue(trx, user.id, email, ip);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
    this.services.securityEvents.record({ type: 'tenant.created', outcome: 'success', userId: user.id, tenantId: tenant.id, ip });
    return { tenant: { id: tenant.id, name: tenant.name }, user: { ...user, emailVerified: false } };
  }

  /**
   * Checks the password (throttled per account and per IP, in constant work whether or not the
   * account exists) and issues a session bound to one of the user's tenants.
   */
  async signIn(input: SignInInput): Promise<SignedIn | MfaRequired> {
    const email = normaliseEmail(input.email);
    const subject = { email, ip: input.ip };
    return this.throttle.guard(subject, () => this.checkPassword(input, subject));
  }

  private async checkPassword(input: SignInInput, subject: { email: string; ip: string }): Promise<SignedIn | MfaRequired> {
    const email = subject.email;
    await this.throttle.assertAllowed(subject);

    const user = await findUserByEmailIndex(this.services.db, await this.emailIndex(email));
    const passwordOk = user ? await verifyPassword(user.passwordHash, input.password) : (await burnPasswordCheck(input.password), false);
    if (!user || !passwordOk || user.disabledAt !== null) {
      await this.throttle.recordFailure(subject);
      const targetIndex = securityEventTargetIndex(await this.services.keyRing.blindIndexKey(), email);
      this.services.securityEvents.record({ type: 'signin.password', outcome: 'failure', ip: input.ip, targetIndex, ...(user ? { userId: user.id } : {}) });
      throw invalidCredentials();
    }
    const memberships = await listMemberships(this.services.db, user.id);
    const membership = input.tenantId ? memberships.find((m) => m.tenantId === input.tenantId) : memberships[0];
    // Naming a tenant the user is not in answers like a wrong password: no tenant's existence leaks.
    if (!membership) {
      await this.throttle.recordFailure(subject);
      throw invalidCredentials();
    }
    // With a second factor due, the account's failure count is cleared only when it passes too.
    return this.completion.afterPassword(user.id, membership.tenantId, { ip: input.ip, userAgent: input.userAgent }, async () => {
      await this.throttle.recordSuccess(subject);
      this.services.securityEvents.record({ type: 'signin.password', outcome: 'success', userId: user.id, tenantId: membership.tenantId, ip: input.ip });
    });
  }

  authenticate(token: string): Promise<MemberPrincipal | undefined> {
    return this.sessions.resolve(token);
  }

  signOut(principal: MemberPrincipal): Promise<void> {
    return this.sessions.revoke(principal.sessionId);
  }

  async me(principal: MemberPrincipal): Promise<{
    user: { id: string; email: string; emailVerified: boolean };
    tenant: { id: string; name: string };
    role: Role;
    mfa: { totp: boolean; webauthn: number; recoveryCodes: number };
  }> {
    const { db, keyRing } = this.services;
    const email = await findUserEmail(db, principal.userId, await keyRing.cipherFor(SYSTEM_OWNER));
    const name = await findTenantName(db, principal.tenantId, await keyRing.cipherFor(principal.tenantId));
    if (email === undefined || name === undefined) throw new AppError('UNAUTHENTICATED', { details: { reason: 'account_unavailable' } });
    const mfa = await factorSummary(db, principal.userId);
    return { user: { id: principal.userId, email, emailVerified: principal.emailVerified }, tenant: { id: principal.tenantId, name }, role: principal.role, mfa };
  }

  private async emailIndex(email: string): Promise<string> {
    return blindIndex(await this.services.keyRing.blindIndexKey(), 'email', email);
  }
}

function emailTaken(): AppError {
  return new AppError('CONFLICT', {
    message: 'An account with this e-mail address already exists; sign in instead.',
    details: { field: 'email', reason: 'email_taken' },
  });
}

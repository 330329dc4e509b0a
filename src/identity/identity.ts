import type { Services } from '../core/services.js';
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
import { SessionStore, type IssuedSession } from './session-store.js';
import { SignInThrottle } from './sign-in-throttle.js';
import { EmailVerifications } from './email-verification.js';
import { assertPrintableName } from '../lib/printable-name.js';
import { openChallenge } from './mfa/mfa-challenges.js';
import { factorSummary, methodsFor } from './mfa/second-factors.js';
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

export interface SignedIn extends IssuedSession {
  tenantId: string;
  userId: string;
}

/** The password was right and the user has a second factor: the sign-in continues with a challenge. */
export interface MfaRequired {
  mfaRequired: true;
  challenge: string;
  methods: Array<'totp' | 'webauthn' | 'recoveryCode'>;
}

const invalidCredentials = () =>
  new AppError('UNAUTHENTICATED', { message: 'The e-mail address or password is not correct.' });

/** Sign-up, sign-in, sign-out and "who am I": the identity use cases of the foundation. */
export class Identity {
  readonly sessions: SessionStore;
  readonly throttle: SignInThrottle;
  readonly emailVerifications: EmailVerifications;

  constructor(private readonly services: Services) {
    const sessionPolicy = { ...services.config.sessions, maxPerUser: services.config.limits.sessionsPerUser };
    this.sessions = new SessionStore(services.db, sessionPolicy, services.clock, () => services.keyRing.systemCipher());
    this.throttle = new SignInThrottle(services.db, services.transactions, services.config.signInThrottle, services.clock, () =>
      services.keyRing.blindIndexKey(),
    );
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
        await this.emailVerifications.issue(trx, user.id, email);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
    void this.services.mail.kick();
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
    await this.throttle.assertAllowed(subject);

    const user = await findUserByEmailIndex(this.services.db, await this.emailIndex(email));
    const passwordOk = user ? await verifyPassword(user.passwordHash, input.password) : (await burnPasswordCheck(input.password), false);
    if (!user || !passwordOk || user.disabledAt !== null) {
      await this.throttle.recordFailure(subject);
      this.services.securityEvents.record({ type: 'signin.password', outcome: 'failure', ip: input.ip, ...(user ? { userId: user.id } : {}) });
      throw invalidCredentials();
    }
    const memberships = await listMemberships(this.services.db, user.id);
    const membership = input.tenantId ? memberships.find((m) => m.tenantId === input.tenantId) : memberships[0];
    // Naming a tenant the user is not in answers like a wrong password: no tenant's existence leaks.
    if (!membership) {
      await this.throttle.recordFailure(subject);
      throw invalidCredentials();
    }
    const factors = await factorSummary(this.services.db, user.id);
    if (factors.totp || factors.webauthn > 0) {
      // The account's failure count is cleared only when the second factor passes too.
      const challenge = await openChallenge(this.services.db, this.services.clock, user.id, membership.tenantId);
      return { mfaRequired: true, challenge, methods: methodsFor(factors) };
    }
    await this.throttle.recordSuccess(subject);
    this.services.securityEvents.record({ type: 'signin.password', outcome: 'success', userId: user.id, tenantId: membership.tenantId, ip: input.ip });
    const session = await this.sessions.issue(user.id, membership.tenantId, { ip: input.ip, userAgent: input.userAgent });
    return { ...session, tenantId: membership.tenantId, userId: user.id };
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
    if (email === undefined || name === undefined) throw new AppError('UNAUTHENTICATED');
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
    details: { field: 'email' },
  });
}

import type { StaffDeps } from './staff-deps.js';
import type { StaffPrincipal, StaffRole } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import type { SignInThrottle } from '../identity/sign-in-throttle.js';
import { StaffAccounts } from './staff-accounts.js';
import { StaffEnrolment } from './staff-enrolment.js';
import { StaffPolicies } from './staff-policies.js';
import { findStaffMember } from './staff-repository.js';
import { StaffSessionStore } from './staff-session-store.js';
import { StaffSignIn } from './staff-sign-in.js';

export interface StaffMe {
  staff: { id: string; email: string; role: StaffRole };
  policy: { version: number | null; acknowledged: boolean };
}

/**
 * The staff realm's use cases, built once over the services: accounts (from the host), enrolment,
 * two-step sign-in, sessions and the internal staff policy. Separate from customers' identity in
 * every table, token prefix and throttle count; it reuses identity's password, TOTP and
 * recovery-code code rather than copying it.
 */
export class Staff {
  readonly sessions: StaffSessionStore;
  readonly accounts: StaffAccounts;
  readonly enrolment: StaffEnrolment;
  readonly signIn: StaffSignIn;
  readonly policies: StaffPolicies;

  /** `throttle` is a SignInThrottle of the `staff` realm, built in the wiring. */
  constructor(
    private readonly services: StaffDeps,
    throttle: SignInThrottle,
  ) {
    this.sessions = new StaffSessionStore(services.db, services.clock, () => services.keyRing.systemCipher());
    this.accounts = new StaffAccounts(services, this.sessions);
    this.enrolment = new StaffEnrolment(services);
    this.signIn = new StaffSignIn(services, this.sessions, throttle);
    this.policies = new StaffPolicies(services);
  }

  /** The staff member behind a session token; a disabled member's token is refused and recorded. */
  authenticate(token: string): Promise<StaffPrincipal | undefined> {
    return this.sessions.resolve(token, (staffId) =>
      this.services.securityEvents.record({ type: 'staff.session.refused', outcome: 'refused', actor: { type: 'staff', id: staffId }, details: { reason: 'staff_disabled' } }),
    );
  }

  signOut(principal: StaffPrincipal): Promise<void> {
    return this.sessions.revoke(principal.sessionId);
  }

  async me(principal: StaffPrincipal): Promise<StaffMe> {
    const member = await findStaffMember(this.services.db, principal.staffId, this.services.keyRing.systemCipher());
    if (!member) throw new AppError('UNAUTHENTICATED', { details: { reason: 'account_unavailable' } });
    const current = await this.policies.current();
    return {
      staff: { id: member.id, email: member.email, role: member.role },
      policy: { version: current?.version ?? null, acknowledged: principal.policyAcknowledged },
    };
  }
}

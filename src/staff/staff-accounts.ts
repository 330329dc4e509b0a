import type { StaffDeps } from './staff-deps.js';
import type { SecurityEventActor } from '../core/security-events.js';
import type { StaffRole } from '../core/principal.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { blindIndex } from '../keys/blind-index.js';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { isPlausibleEmail, normaliseEmail } from '../identity/email-address.js';
import { issueEnrolmentToken } from './staff-enrolments.js';
import { endAccess } from '../staff-access/end-access.js';
import { findStaffByEmailIndex, insertStaff, listStaffMembers, markStaffDisabled, type StaffMember } from './staff-repository.js';
import type { StaffSessionStore } from './staff-session-store.js';

export const STAFF_ROLES: readonly StaffRole[] = ['support', 'security-admin'];

/** Who ran a host command: the operating-system account, as the security events name it. */
export interface Operator {
  name: string;
}

/**
 * Staff accounts as the operator manages them from the host (`confide staff add|list|disable`):
 * there is no HTTP route that creates staff, so reaching the host is what it takes to make one.
 */
export class StaffAccounts {
  constructor(
    private readonly services: StaffDeps,
    private readonly sessions: StaffSessionStore,
  ) {}

  async add(input: { email: string; role: StaffRole }, operator: Operator): Promise<{ id: string; email: string; role: StaffRole; enrolmentToken: string; expiresAt: string }> {
    const { keyRing, clock, transactions, securityEvents } = this.services;
    const email = normaliseEmail(input.email);
    if (!isPlausibleEmail(email)) throw new AppError('VALIDATION_FAILED', { message: 'The e-mail address is not valid.', details: { field: 'email' } });
    if (!STAFF_ROLES.includes(input.role)) throw new AppError('VALIDATION_FAILED', { message: `The role must be one of ${STAFF_ROLES.join(', ')}.`, details: { field: 'role' } });
    const emailIndex = await this.emailIndex(email);
    const staff = { id: newId(), email, emailIndex, role: input.role, createdAt: clock.now().toISOString() };
    try {
      const enrolment = await transactions.run(async (trx) => {
        await insertStaff(trx, staff, keyRing.systemCipher());
        return issueEnrolmentToken(trx, clock, staff.id);
      });
      securityEvents.record({ type: 'staff.added', outcome: 'success', actor: this.actor(operator), details: { staffId: staff.id, role: staff.role } });
      return { id: staff.id, email, role: staff.role, enrolmentToken: enrolment.token, expiresAt: enrolment.expiresAt };
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('CONFLICT', { message: `A staff member with the address ${email} already exists.`, details: { field: 'email', reason: 'email_taken' } });
      throw error;
    }
  }

  list(): Promise<StaffMember[]> {
    return listStaffMembers(this.services.db, this.services.keyRing.systemCipher());
  }

  /** Disables an account: its sessions, grants and pending requests end in the same transaction. */
  async disable(email: string, operator: Operator): Promise<StaffMember> {
    const { db, clock, transactions, securityEvents } = this.services;
    const found = await findStaffByEmailIndex(db, await this.emailIndex(normaliseEmail(email)));
    if (!found) throw new AppError('NOT_FOUND', { message: `No staff member has the address ${normaliseEmail(email)}.` });
    const now = clock.now().toISOString();
    const ended = await transactions.run(async (trx) => {
      if (!(await markStaffDisabled(trx, found.id, now))) throw new AppError('CONFLICT', { message: 'This staff member is already disabled.', details: { reason: 'already_disabled' } });
      await this.sessions.revokeAll(trx, found.id, now);
      return endAccess(trx, { staffId: found.id }, { type: 'system', id: null }, now);
    });
    const actor = this.actor(operator);
    securityEvents.record({ type: 'staff.disabled', outcome: 'success', actor, details: { staffId: found.id } });
    for (const grant of ended.grants) {
      securityEvents.record({ type: 'staff.access.revoked', outcome: 'success', actor, tenantId: grant.tenantId, details: { grantId: grant.id, staffId: found.id, reason: 'staff_disabled' } });
    }
    const member = (await this.list()).find((candidate) => candidate.id === found.id);
    if (!member) throw new AppError('NOT_FOUND');
    return member;
  }

  private actor(operator: Operator): SecurityEventActor {
    return { type: 'system', id: `host:${operator.name}` };
  }

  private async emailIndex(email: string): Promise<string> {
    return blindIndex(await this.services.keyRing.blindIndexKey(), 'staff-email', email);
  }
}

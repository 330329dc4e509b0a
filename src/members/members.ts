import type { Services } from '../core/services.js';
import type { Caller, Role } from '../core/principal.js';
import { requireMember } from '../core/policies.js';
import { AppError, notFound } from '../lib/app-error.js';
import { countOwners, deleteMembership, findRole, listMembers, revokeTenantSessions, setRole, type MemberView } from './member-repository.js';

const lastOwner = () => new AppError('CONFLICT', { message: 'A tenant always keeps at least one owner.' });

/**
 * Members and roles. Owners may do anything here; admins manage admins and members but never
 * touch an owner or make one. A tenant always keeps at least one owner.
 */
export class Members {
  constructor(private readonly services: Services) {}

  list(caller: Caller): Promise<MemberView[]> {
    return listMembers(this.services.db, caller.principal.tenantId, this.services.keyRing.systemCipher());
  }

  async changeRole(caller: Caller, userId: string, role: Role): Promise<MemberView> {
    const actor = requireMember(caller.principal);
    const { db, transactions, securityEvents } = this.services;
    const tenantId = actor.tenantId;
    await transactions.run(async (trx) => {
      const current = await findRole(trx, tenantId, userId);
      if (!current) throw notFound();
      if (actor.role !== 'owner' && (current === 'owner' || role === 'owner')) {
        throw new AppError('FORBIDDEN', { message: 'Only an owner can make or change an owner.' });
      }
      if (current === 'owner' && role !== 'owner' && (await countOwners(trx, tenantId)) <= 1) throw lastOwner();
      await setRole(trx, tenantId, userId, role);
    });
    securityEvents.record({ type: 'member.role.changed', outcome: 'success', tenantId, userId: actor.userId, ip: caller.ip, details: { memberId: userId, role } });
    const member = (await listMembers(db, tenantId, this.services.keyRing.systemCipher())).find((m) => m.userId === userId);
    if (!member) throw notFound();
    return member;
  }

  /** Removes a member; their sessions in this tenant end at once. */
  async remove(caller: Caller, userId: string): Promise<void> {
    const actor = requireMember(caller.principal);
    const { transactions, clock, securityEvents } = this.services;
    const tenantId = actor.tenantId;
    await transactions.run(async (trx) => {
      const current = await findRole(trx, tenantId, userId);
      if (!current) throw notFound();
      if (current === 'owner' && actor.role !== 'owner') throw new AppError('FORBIDDEN', { message: 'Only an owner can remove an owner.' });
      if (current === 'owner' && (await countOwners(trx, tenantId)) <= 1) throw lastOwner();
      await deleteMembership(trx, tenantId, userId);
      await revokeTenantSessions(trx, tenantId, userId, clock.now().toISOString());
    });
    securityEvents.record({ type: 'member.removed', outcome: 'success', tenantId, userId: actor.userId, ip: caller.ip, details: { memberId: userId } });
  }
}

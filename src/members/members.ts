import type { MembersDeps } from './members-deps.js';
import type { Caller, Role } from '../core/principal.js';
import { authorize, isAllowedForRole, requireMember } from '../core/policies.js';
import { AppError, notFound } from '../lib/app-error.js';
import type { SessionStore } from '../identity/session-store.js';
import { countOwners, deleteMembership, findRole, findMember, listMemberPage, setRole, type MemberView } from './member-repository.js';
import { decodeMemberCursor, encodeMemberCursor } from './member-cursor.js';
import { revokeKeysCreatedBy } from '../api-keys/api-key-store.js';

const lastOwner = () => new AppError('CONFLICT', { message: 'A tenant always keeps at least one owner.', details: { reason: 'last_owner' } });

/**
 * Members and roles. Who may change whom is a policy (core/policies.ts: admins manage admins and
 * members, only owners touch or make an owner); that a tenant always keeps at least one owner is
 * this domain's own rule, since it needs a count.
 */
export class Members {
  constructor(
    private readonly services: MembersDeps,
    private readonly sessions: SessionStore,
  ) {}

  /** A page of members, bounded in count and in bytes (CONFIDE_LIST_MAX_BYTES). */
  async list(caller: Caller, options: { limit: number; cursor?: string }): Promise<{ items: MemberView[]; nextCursor: string | null }> {
    const after = options.cursor === undefined ? undefined : decodeMemberCursor(options.cursor);
    const page = await listMemberPage(this.services.db, caller.principal.tenantId, this.services.keyRing.systemCipher(), {
      after,
      limit: options.limit,
      maxBytes: this.services.config.lists.maxBytes,
    });
    return { items: page.items, nextCursor: page.next === null ? null : encodeMemberCursor(page.next) };
  }

  /** Changes a member's role; lowered to a role that cannot manage API keys, the keys they created are revoked. */
  async changeRole(caller: Caller, userId: string, role: Role): Promise<MemberView> {
    const actor = requireMember(caller.principal);
    const { db, transactions, securityEvents, clock } = this.services;
    const tenantId = actor.tenantId;
    const revokedApiKeys = await transactions.run(async (trx) => {
      const current = await findRole(trx, tenantId, userId);
      if (!current) throw notFound();
      authorize(actor, 'members.changeRole', { tenantId, current, next: role });
      if (current === 'owner' && role !== 'owner' && (await countOwners(trx, tenantId)) <= 1) throw lastOwner();
      await setRole(trx, tenantId, userId, role);
      return isAllowedForRole(role, 'apiKeys.manage') ? [] : revokeKeysCreatedBy(trx, tenantId, userId, clock.now().toISOString());
    });
    securityEvents.record({
      type: 'member.role.changed',
      outcome: 'success',
      tenantId,
      userId: actor.userId,
      ip: caller.ip,
      details: { memberId: userId, role, revokedApiKeys },
    });
    const member = await findMember(db, tenantId, userId, this.services.keyRing.systemCipher());
    if (!member) throw notFound();
    return member;
  }

  /** Removes a member; their sessions in this tenant end at once, and the API keys they created are revoked. */
  async remove(caller: Caller, userId: string): Promise<void> {
    const actor = requireMember(caller.principal);
    const { transactions, clock, securityEvents } = this.services;
    const tenantId = actor.tenantId;
    const revokedApiKeys = await transactions.run(async (trx) => {
      const current = await findRole(trx, tenantId, userId);
      if (!current) throw notFound();
      authorize(actor, 'members.remove', { tenantId, role: current });
      if (current === 'owner' && (await countOwners(trx, tenantId)) <= 1) throw lastOwner();
      await deleteMembership(trx, tenantId, userId);
      const now = clock.now().toISOString();
      await this.sessions.revokeInTenant(trx, tenantId, userId, now);
      return revokeKeysCreatedBy(trx, tenantId, userId, now);
    });
    securityEvents.record({ type: 'member.removed', outcome: 'success', tenantId, userId: actor.userId, ip: caller.ip, details: { memberId: userId, revokedApiKeys } });
  }
}

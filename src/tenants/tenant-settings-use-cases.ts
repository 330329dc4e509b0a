import type { TenantSettingsDeps } from './tenants-deps.js';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Actor } from '../core/actor.js';
import { actorOf, type Caller } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { readTenantSettings, writeTenantSettings, type TenantSettings } from './tenant-settings.js';

/**
 * Whether a user has a second factor of their own. Identity knows; it is handed in by the wiring,
 * so tenants depend on no identity module (identity, which creates tenants, depends on tenants).
 */
export type HasSecondFactor = (userId: string) => Promise<boolean>;

/**
 * What choosing `deny` does to staff access already given (staff-access knows: it ends the
 * tenant's grants and pending requests in the caller's transaction). Handed in by the wiring, as
 * HasSecondFactor is; returns what to record once the change has committed.
 */
export type WithdrawStaffAccess = (trx: Kysely<DB>, tenantId: string, by: Actor, now: string) => Promise<() => void>;

/** Reading and changing a tenant's security settings (owners and admins). */
export class TenantSettingsUseCases {
  constructor(
    private readonly services: TenantSettingsDeps,
    private readonly hasSecondFactor: HasSecondFactor,
    private readonly withdrawStaffAccess: WithdrawStaffAccess,
  ) {}

  get(caller: Caller): Promise<TenantSettings> {
    return readTenantSettings(this.services.db, caller.principal.tenantId);
  }

  async update(caller: Caller, changes: Partial<TenantSettings>): Promise<TenantSettings> {
    const { transactions, clock, securityEvents } = this.services;
    const tenantId = caller.principal.tenantId;
    // As GitHub does for organisations: whoever requires a second factor must have one first.
    if (changes.requireMfa && caller.principal.kind === 'member' && !(await this.hasSecondFactor(caller.principal.userId))) {
      throw new AppError('CONFLICT', { message: 'Set up a second factor for yourself before requiring one of every member.', details: { reason: 'second_factor_required' } });
    }
    const actor = actorOf(caller.principal);
    const now = clock.now().toISOString();
    const { next, afterCommit } = await transactions.run(async (trx) => {
      const current = await readTenantSettings(trx, tenantId);
      const settings = { ...current, ...changes };
      await writeTenantSettings(trx, tenantId, settings, now);
      const denying = settings.staffAccess === 'deny' && current.staffAccess !== 'deny';
      return { next: settings, afterCommit: denying ? await this.withdrawStaffAccess(trx, tenantId, actor, now) : undefined };
    });
    securityEvents.record({ type: 'tenant.settings.changed', outcome: 'success', tenantId, actor, ip: caller.ip, details: { changes } });
    afterCommit?.();
    return next;
  }
}

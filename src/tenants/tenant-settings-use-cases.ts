import type { TenantSettingsDeps } from './tenants-deps.js';
import { actorOf, type Caller } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { readTenantSettings, writeTenantSettings, type TenantSettings } from './tenant-settings.js';

/**
 * Whether a user has a second factor of their own. Identity knows; it is handed in by the wiring,
 * so tenants depend on no identity module (identity, which creates tenants, depends on tenants).
 */
export type HasSecondFactor = (userId: string) => Promise<boolean>;

/** Reading and changing a tenant's security settings (owners and admins). */
export class TenantSettingsUseCases {
  constructor(
    private readonly services: TenantSettingsDeps,
    private readonly hasSecondFactor: HasSecondFactor,
  ) {}

  get(caller: Caller): Promise<TenantSettings> {
    return readTenantSettings(this.services.db, caller.principal.tenantId);
  }

  async update(caller: Caller, changes: Partial<TenantSettings>): Promise<TenantSettings> {
    const { db, transactions, clock, securityEvents } = this.services;
    const tenantId = caller.principal.tenantId;
    // As GitHub does for organisations: whoever requires a second factor must have one first.
    if (changes.requireMfa && caller.principal.kind === 'member' && !(await this.hasSecondFactor(caller.principal.userId))) {
      throw new AppError('CONFLICT', { message: 'Set up a second factor for yourself before requiring one of every member.', details: { reason: 'second_factor_required' } });
    }
    const next = { ...(await readTenantSettings(db, tenantId)), ...changes };
    await transactions.run((trx) => writeTenantSettings(trx, tenantId, next, clock.now().toISOString()));
    securityEvents.record({ type: 'tenant.settings.changed', outcome: 'success', tenantId, actor: actorOf(caller.principal), ip: caller.ip, details: { changes } });
    return next;
  }
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface TenantSettings {
  requireMfa: boolean;
  /** Null: the server's default applies. A tenant can only shorten lifetimes. */
  sessionIdleSeconds: number | null;
  sessionAbsoluteSeconds: number | null;
  /** How staff may reach the tenant's data (src/staff-access): ask and wait, tell the tenant at once, or never. */
  staffAccess: StaffAccessMode;
  /** The longest grant the tenant accepts, in minutes. */
  staffAccessMaxMinutes: number;
}

export type StaffAccessMode = 'approval_required' | 'notify' | 'deny';
/**
 * Grants last 2 hours unless the tenant says otherwise, and never more than 8 (a working day):
 * an engineer who needs longer asks again, with a fresh reason the tenant sees.
 */
export const STAFF_ACCESS_MAX_MINUTES = { default: 120, min: 1, max: 480 } as const;

/** Bounds a tenant may choose within: never longer than the ASVS / NIST AAL2 limits. */
export const SESSION_IDLE_BOUNDS = { min: 300, max: 3600 } as const;
export const SESSION_ABSOLUTE_BOUNDS = { min: 3600, max: 86_400 } as const;

export async function readTenantSettings(db: Kysely<DB>, tenantId: string): Promise<TenantSettings> {
  const row = await db.selectFrom('tenant_settings').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  return {
    requireMfa: Boolean(row?.require_mfa),
    sessionIdleSeconds: row?.session_idle_seconds ?? null,
    sessionAbsoluteSeconds: row?.session_absolute_seconds ?? null,
    // Approval is the default: staff never reach a tenant that has not chosen otherwise without asking first.
    staffAccess: row?.staff_access ?? 'approval_required',
    staffAccessMaxMinutes: row?.staff_access_max_minutes ?? STAFF_ACCESS_MAX_MINUTES.default,
  };
}

export async function writeTenantSettings(trx: Kysely<DB>, tenantId: string, settings: TenantSettings, now: string): Promise<void> {
  const values = {
    require_mfa: settings.requireMfa ? 1 : 0,
    session_idle_seconds: settings.sessionIdleSeconds,
    session_absolute_seconds: settings.sessionAbsoluteSeconds,
    staff_access: settings.staffAccess,
    staff_access_max_minutes: settings.staffAccessMaxMinutes,
    updated_at: now,
  };
  await trx
    .insertInto('tenant_settings')
    .values({ tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
    .execute();
}

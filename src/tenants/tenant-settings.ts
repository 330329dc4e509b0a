import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface TenantSettings {
  requireMfa: boolean;
  /** Null: the server's default applies. A tenant can only shorten lifetimes. */
  sessionIdleSeconds: number | null;
  sessionAbsoluteSeconds: number | null;
}

/** Bounds a tenant may choose within: never longer than the ASVS / NIST AAL2 limits. */
export const SESSION_IDLE_BOUNDS = { min: 300, max: 3600 } as const;
export const SESSION_ABSOLUTE_BOUNDS = { min: 3600, max: 86_400 } as const;

export async function readTenantSettings(db: Kysely<DB>, tenantId: string): Promise<TenantSettings> {
  const row = await db.selectFrom('tenant_settings').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  return {
    requireMfa: Boolean(row?.require_mfa),
    sessionIdleSeconds: row?.session_idle_seconds ?? null,
    sessionAbsoluteSeconds: row?.session_absolute_seconds ?? null,
  };
}

export async function writeTenantSettings(trx: Kysely<DB>, tenantId: string, settings: TenantSettings, now: string): Promise<void> {
  const values = {
    require_mfa: settings.requireMfa ? 1 : 0,
    session_idle_seconds: settings.sessionIdleSeconds,
    session_absolute_seconds: settings.sessionAbsoluteSeconds,
    updated_at: now,
  };
  await trx
    .insertInto('tenant_settings')
    .values({ tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
    .execute();
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { AccessScope, StoredRequestStatus } from '../db/staff-schema.js';

/** What the grant check needs of a grant row. */
export interface LiveGrantRow {
  id: string;
  tenant_id: string;
  scope: AccessScope;
  justification: string;
  starts_at: string;
  expires_at: string;
}

/**
 * The grants that let `staffId` act on `tenantId` at `now`: started, not expired, not revoked, and
 * held by a staff member who is not disabled. Read afresh on every staff data request (the
 * `access_grants_staff_tenant` index), never cached, so a revocation or a disabling takes effect
 * on the very next request. Times are ISO-8601 UTC text, which compares in time order as text.
 */
export async function findLiveGrants(db: Kysely<DB>, staffId: string, tenantId: string, now: string): Promise<LiveGrantRow[]> {
  return db
    .selectFrom('access_grants')
    .innerJoin('staff', 'staff.id', 'access_grants.staff_id')
    .leftJoin('tenant_settings', 'tenant_settings.tenant_id', 'access_grants.tenant_id')
    .select([
      'access_grants.id',
      'access_grants.tenant_id',
      'access_grants.scope',
      'access_grants.justification',
      'access_grants.starts_at',
      'access_grants.expires_at',
    ])
    .where('access_grants.staff_id', '=', staffId)
    .where('access_grants.tenant_id', '=', tenantId)
    .where('access_grants.expires_at', '>', now)
    .where('access_grants.starts_at', '<=', now)
    .where('access_grants.revoked_at', 'is', null)
    .where('staff.disabled_at', 'is', null)
    // A tenant that switched to `deny` after granting has withdrawn every grant with it.
    .where((eb) => eb.or([eb('tenant_settings.staff_access', 'is', null), eb('tenant_settings.staff_access', '!=', 'deny')]))
    .execute();
}

/** Whether the tenant has chosen `deny`: then no grant for it counts, whenever it was given. */
export async function tenantDeniesStaff(db: Kysely<DB>, tenantId: string): Promise<boolean> {
  const row = await db.selectFrom('tenant_settings').select('staff_access').where('tenant_id', '=', tenantId).executeTakeFirst();
  return row?.staff_access === 'deny';
}

/** Whether the staff member is disabled (or unknown): then no grant of theirs counts. */
export async function isStaffDisabled(db: Kysely<DB>, staffId: string): Promise<boolean> {
  const row = await db.selectFrom('staff').select('disabled_at').where('id', '=', staffId).executeTakeFirst();
  return row === undefined || row.disabled_at !== null;
}

/** The newest access request of `staffId` for `tenantId`, with its grant if it has one: what a refusal's `why` is read from. */
export interface LatestRequest {
  status: StoredRequestStatus;
  createdAt: string;
  grant: { expiresAt: string; revokedAt: string | null } | null;
}

export async function findLatestRequest(db: Kysely<DB>, staffId: string, tenantId: string): Promise<LatestRequest | undefined> {
  const row = await db
    .selectFrom('access_requests')
    .leftJoin('access_grants', 'access_grants.request_id', 'access_requests.id')
    .select(['access_requests.status', 'access_requests.created_at', 'access_grants.expires_at', 'access_grants.revoked_at'])
    .where('access_requests.staff_id', '=', staffId)
    .where('access_requests.tenant_id', '=', tenantId)
    // UUIDv7: the newest request has the greatest id.
    .orderBy('access_requests.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const grant = row.expires_at === null ? null : { expiresAt: row.expires_at, revokedAt: row.revoked_at };
  return { status: row.status, createdAt: row.created_at, grant };
}

import type { ExpressionBuilder, Kysely, SelectQueryBuilder } from 'kysely';
import type { DB } from '../db/schema.js';
import type { AccessRequestsTable, AccessGrantsTable } from '../db/staff-schema.js';
import type { AccessStatus } from './access-status.js';

/**
 * The access_requests and access_grants tables. A request and its grant are read together (a
 * request is `active`, `expired` or `revoked` by its grant); every look-up a tenant makes takes
 * the tenant id, so another tenant's request is simply not found.
 */

/** One request with its grant (if any) and its staff member's sealed e-mail address. */
export type RequestRow = AccessRequestsTable & {
  staff_email_enc: string;
  staff_disabled_at: string | null;
  grant_id: string | null;
  grant_starts_at: string | null;
  grant_expires_at: string | null;
  grant_revoked_at: string | null;
  grant_revoked_by_type: string | null;
  grant_revoked_by: string | null;
};

function requestRows(db: Kysely<DB>) {
  return db
    .selectFrom('access_requests')
    .innerJoin('staff', 'staff.id', 'access_requests.staff_id')
    .leftJoin('access_grants', 'access_grants.request_id', 'access_requests.id')
    .selectAll('access_requests')
    .select([
      'staff.email_enc as staff_email_enc',
      'staff.disabled_at as staff_disabled_at',
      'access_grants.id as grant_id',
      'access_grants.starts_at as grant_starts_at',
      'access_grants.expires_at as grant_expires_at',
      'access_grants.revoked_at as grant_revoked_at',
      'access_grants.revoked_by_type as grant_revoked_by_type',
      'access_grants.revoked_by as grant_revoked_by',
    ]);
}

type RowQuery = SelectQueryBuilder<DB, 'access_requests' | 'staff' | 'access_grants', RequestRow>;

/** The moments a derived status depends on: now, and the creation time before which a pending request has lapsed. */
export interface StatusClock {
  now: string;
  lapsedBefore: string;
}

/** The SQL form of a derived status (access-status.ts says the same in code). */
function hasStatus(eb: ExpressionBuilder<DB, 'access_requests' | 'staff' | 'access_grants'>, status: AccessStatus, at: StatusClock) {
  const granted = eb('access_requests.status', '=', 'active');
  switch (status) {
    case 'pending':
      return eb.and([eb('access_requests.status', '=', 'pending'), eb('access_requests.created_at', '>', at.lapsedBefore)]);
    case 'denied':
      return eb('access_requests.status', '=', 'denied');
    case 'active':
      return eb.and([granted, eb('access_grants.revoked_at', 'is', null), eb('access_grants.expires_at', '>', at.now)]);
    case 'revoked':
      return eb.and([granted, eb('access_grants.revoked_at', 'is not', null)]);
    case 'expired':
      return eb.or([
        eb.and([eb('access_requests.status', '=', 'pending'), eb('access_requests.created_at', '<=', at.lapsedBefore)]),
        eb.and([granted, eb('access_grants.revoked_at', 'is', null), eb('access_grants.expires_at', '<=', at.now)]),
      ]);
  }
}

export interface RequestFilter {
  tenantId?: string;
  staffId?: string;
  status?: AccessStatus;
  /** Only requests that became a grant (the grants listings). */
  granted?: boolean;
  /** Newest first: only requests older than this id (the previous page's last). */
  beforeId?: string;
  limit: number;
}

/** A page of requests, newest first (ids are UUIDv7, so id order is creation order). */
export async function listRequestRows(db: Kysely<DB>, filter: RequestFilter, at: StatusClock): Promise<RequestRow[]> {
  let query: RowQuery = requestRows(db).orderBy('access_requests.id', 'desc').limit(filter.limit);
  if (filter.tenantId !== undefined) query = query.where('access_requests.tenant_id', '=', filter.tenantId);
  if (filter.staffId !== undefined) query = query.where('access_requests.staff_id', '=', filter.staffId);
  if (filter.granted) query = query.where('access_grants.id', 'is not', null);
  if (filter.beforeId !== undefined) query = query.where('access_requests.id', '<', filter.beforeId);
  const status = filter.status;
  if (status !== undefined) query = query.where((eb) => hasStatus(eb, status, at));
  return query.execute();
}

export async function findRequestRow(db: Kysely<DB>, id: string, scope: { tenantId?: string; staffId?: string } = {}): Promise<RequestRow | undefined> {
  let query: RowQuery = requestRows(db).where('access_requests.id', '=', id);
  if (scope.tenantId !== undefined) query = query.where('access_requests.tenant_id', '=', scope.tenantId);
  if (scope.staffId !== undefined) query = query.where('access_requests.staff_id', '=', scope.staffId);
  return query.executeTakeFirst();
}

export async function findRequestIdOfGrant(db: Kysely<DB>, grantId: string, scope: { tenantId?: string; staffId?: string } = {}): Promise<string | undefined> {
  let query = db.selectFrom('access_grants').select('request_id').where('id', '=', grantId);
  if (scope.tenantId !== undefined) query = query.where('tenant_id', '=', scope.tenantId);
  if (scope.staffId !== undefined) query = query.where('staff_id', '=', scope.staffId);
  return (await query.executeTakeFirst())?.request_id;
}

/** How many of this staff member's requests are pending (not lapsed), and whether one is open for this tenant. */
export async function openRequestCounts(trx: Kysely<DB>, staffId: string, tenantId: string, at: StatusClock): Promise<{ pending: number; openForTenant: number }> {
  const pending = await requestRows(trx)
    .clearSelect()
    .select((eb) => eb.fn.countAll().as('n'))
    .where('access_requests.staff_id', '=', staffId)
    .where((eb) => hasStatus(eb, 'pending', at))
    .executeTakeFirstOrThrow();
  const open = await requestRows(trx)
    .clearSelect()
    .select((eb) => eb.fn.countAll().as('n'))
    .where('access_requests.staff_id', '=', staffId)
    .where('access_requests.tenant_id', '=', tenantId)
    .where((eb) => eb.or([hasStatus(eb, 'pending', at), hasStatus(eb, 'active', at)]))
    .executeTakeFirstOrThrow();
  return { pending: Number(pending.n), openForTenant: Number(open.n) };
}

export async function insertRequest(trx: Kysely<DB>, row: AccessRequestsTable): Promise<void> {
  await trx.insertInto('access_requests').values(row).execute();
}

export async function insertGrant(trx: Kysely<DB>, grant: AccessGrantsTable): Promise<void> {
  await trx.insertInto('access_grants').values(grant).execute();
}

export interface Decision {
  status: 'active' | 'denied';
  at: string;
  byType: 'member' | 'staff' | 'system';
  by: string;
  reasonEnc: string | null;
}

/**
 * Decides a request that is still pending and has not lapsed; false when it was already decided
 * (by someone else, a moment ago) or lapsed. The condition is in the UPDATE itself, so of two
 * deciders racing, exactly one wins.
 */
export async function decidePending(trx: Kysely<DB>, id: string, decision: Decision, lapsedBefore: string): Promise<boolean> {
  const result = await trx
    .updateTable('access_requests')
    .set({ status: decision.status, decided_at: decision.at, decided_by_type: decision.byType, decided_by: decision.by, decision_reason_enc: decision.reasonEnc })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('created_at', '>', lapsedBefore)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Revokes a grant that is still live; false when it was already revoked or has expired. */
export async function revokeLiveGrant(trx: Kysely<DB>, grantId: string, revokedBy: { type: string; id: string }, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('access_grants')
    .set({ revoked_at: now, revoked_by_type: revokedBy.type, revoked_by: revokedBy.id })
    .where('id', '=', grantId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Records the one review of a break-glass request; false when it was already reviewed. */
export async function markReviewed(trx: Kysely<DB>, id: string, review: { at: string; by: string; notesEnc: string | null }): Promise<boolean> {
  const result = await trx
    .updateTable('access_requests')
    .set({ reviewed_at: review.at, reviewed_by: review.by, review_notes_enc: review.notesEnc })
    .where('id', '=', id)
    .where('reviewed_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The e-mail addresses, sealed, of the tenant's owners and admins: who is told about staff access. */
export async function tenantManagers(db: Kysely<DB>, tenantId: string): Promise<Array<{ userId: string; emailEnc: string }>> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id as userId', 'users.email_enc as emailEnc'])
    .where('memberships.tenant_id', '=', tenantId)
    .where('memberships.role', 'in', ['owner', 'admin'])
    .where('users.disabled_at', 'is', null)
    // An address nobody has proved may not be the member's own: what staff wrote is not sent there.
    .where('users.email_verified_at', 'is not', null)
    .orderBy('users.id')
    .execute();
  return rows;
}

import { addSeconds } from '../lib/time.js';
import { PENDING_REQUEST_HOURS } from './access-request-rules.js';

/**
 * A request's status as clients see it. Only `pending`, `active` and `denied` are stored; the rest
 * follow from the grant and the clock (src/staff-access/access-request-repository.ts says the
 * same in SQL), so expiry needs no background job and is exact on every read.
 */
export type AccessStatus = 'pending' | 'active' | 'denied' | 'expired' | 'revoked';

/** A grant's own status: live, past its end, or ended by someone. */
export type GrantStatus = 'active' | 'expired' | 'revoked';

export function grantStatus(grant: { expiresAt: string; revokedAt: string | null }, now: Date): GrantStatus {
  if (grant.revokedAt !== null) return 'revoked';
  return new Date(grant.expiresAt) > now ? 'active' : 'expired';
}

export function requestStatus(
  request: { status: 'pending' | 'active' | 'denied'; createdAt: string; grant: { expiresAt: string; revokedAt: string | null } | null },
  now: Date,
): AccessStatus {
  if (request.status === 'denied') return 'denied';
  if (request.status === 'pending') return new Date(request.createdAt) > lapsedBefore(now) ? 'pending' : 'expired';
  return request.grant === null ? 'expired' : grantStatus(request.grant, now);
}

/** Requests created at or before this moment and still pending have lapsed. */
export function lapsedBefore(now: Date): Date {
  return addSeconds(now, -PENDING_REQUEST_HOURS * 3600);
}

export function statusClock(now: Date): { now: string; lapsedBefore: string } {
  return { now: now.toISOString(), lapsedBefore: lapsedBefore(now).toISOString() };
}

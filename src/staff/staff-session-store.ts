import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { StaffPrincipal } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds, type Clock } from '../lib/time.js';

/** Staff tokens have their own prefix: a customer token (`cfs_`) never resolves here, nor a staff one on the public listener. */
export const STAFF_SESSION_PREFIX = 'cfst_';

/** Staff sessions are short (issue 9): 12 hours at most, 15 minutes idle. */
export const STAFF_SESSION_POLICY = { absoluteSeconds: 12 * 3600, idleSeconds: 15 * 60, maxPerStaff: 10 } as const;

/** How stale `last_seen_at` may get before a request refreshes it (well inside the 15-minute idle limit). */
const LAST_SEEN_PRECISION_MS = 30_000;

export interface IssuedStaffSession {
  id: string;
  token: string;
  expiresAt: string;
}

/**
 * Staff sessions, in their own table: an opaque 256-bit token held by the client, its SHA-256 in
 * the database. A session ends at 12 hours, after 15 minutes unused, when revoked, or at once
 * when its staff member is disabled. Each resolve also says whether the staff member has
 * acknowledged the current staff policy, so the admin listener can gate every route on it.
 */
export class StaffSessionStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly cipher: () => Cipher,
  ) {}

  async issue(trx: Kysely<DB>, staffId: string, ip: string): Promise<IssuedStaffSession> {
    const now = this.clock.now();
    const session = { id: newId(), token: newBearerToken(STAFF_SESSION_PREFIX), expiresAt: addSeconds(now, STAFF_SESSION_POLICY.absoluteSeconds).toISOString() };
    await trx
      .insertInto('staff_sessions')
      .values({
        id: session.id,
        token_hash: hashToken(session.token),
        staff_id: staffId,
        created_at: now.toISOString(),
        last_seen_at: now.toISOString(),
        expires_at: session.expiresAt,
        revoked_at: null,
        ip_enc: this.cipher().encrypt(ip, ENCRYPTED_FIELDS.staffSessionsIp.location(session)),
      })
      .execute();
    await this.endSessionsBeyondCap(trx, staffId, now.toISOString());
    return session;
  }

  /** A staff member holds at most `maxPerStaff` live sessions: a new sign-in beyond it ends the oldest. */
  private async endSessionsBeyondCap(trx: Kysely<DB>, staffId: string, now: string): Promise<void> {
    const surplus = await trx
      .selectFrom('staff_sessions')
      .select('id')
      .where('staff_id', '=', staffId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(STAFF_SESSION_POLICY.maxPerStaff)
      .limit(1000)
      .execute();
    if (surplus.length === 0) return;
    await trx.updateTable('staff_sessions').set({ revoked_at: now }).where('id', 'in', surplus.map((row) => row.id)).execute();
  }

  /**
   * The staff principal behind a token, or undefined when unknown, expired, idle, revoked or
   * disabled. `onDisabled` hears of a token of a disabled staff member (a security event: someone
   * still holds it).
   */
  async resolve(token: string, onDisabled?: (staffId: string) => void): Promise<StaffPrincipal | undefined> {
    if (!token.startsWith(STAFF_SESSION_PREFIX)) return undefined;
    const row = await this.db
      .selectFrom('staff_sessions')
      .innerJoin('staff', 'staff.id', 'staff_sessions.staff_id')
      .select((eb) => [
        'staff_sessions.id as sessionId',
        'staff_sessions.staff_id as staffId',
        'staff_sessions.last_seen_at as lastSeenAt',
        'staff_sessions.expires_at as expiresAt',
        'staff_sessions.revoked_at as revokedAt',
        'staff.role as role',
        'staff.disabled_at as disabledAt',
        eb.selectFrom('staff_policies').select((p) => p.fn.max('version').as('v')).as('currentPolicy'),
        eb
          .exists(
            eb
              .selectFrom('staff_policy_acknowledgements as ack')
              .select('ack.version')
              .whereRef('ack.staff_id', '=', 'staff_sessions.staff_id')
              .where('ack.version', '=', eb.selectFrom('staff_policies').select((p) => p.fn.max('version').as('v'))),
          )
          .as('acknowledged'),
      ])
      .where('staff_sessions.token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.disabledAt !== null) {
      onDisabled?.(row.staffId);
      return undefined;
    }
    if (row.revokedAt !== null) return undefined;
    const now = this.clock.now();
    const idleUntil = addSeconds(new Date(row.lastSeenAt), STAFF_SESSION_POLICY.idleSeconds);
    if (now >= new Date(row.expiresAt) || now >= idleUntil) return undefined;
    if (now.getTime() - new Date(row.lastSeenAt).getTime() > LAST_SEEN_PRECISION_MS) {
      await this.db.updateTable('staff_sessions').set({ last_seen_at: now.toISOString() }).where('id', '=', row.sessionId).execute();
    }
    return {
      kind: 'staff',
      staffId: row.staffId,
      role: row.role,
      sessionId: row.sessionId,
      policyAcknowledged: row.currentPolicy === null || Boolean(row.acknowledged),
    };
  }

  async revoke(sessionId: string): Promise<void> {
    await this.db.updateTable('staff_sessions').set({ revoked_at: this.clock.now().toISOString() }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
  }

  /** Ends every session of a staff member, inside the caller's transaction. */
  async revokeAll(trx: Kysely<DB>, staffId: string, now: string): Promise<void> {
    await trx.updateTable('staff_sessions').set({ revoked_at: now }).where('staff_id', '=', staffId).where('revoked_at', 'is', null).execute();
  }
}

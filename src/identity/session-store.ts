import type { Kysely } from 'kysely';
import { preparedQuery } from '../db/prepared-query.js';
import type { DB } from '../db/schema.js';
import type { MemberPrincipal } from '../core/principal.js';
import { newId } from '../lib/ids.js';
import { hashToken, newBearerToken } from '../lib/random-token.js';
import { addSeconds, type Clock } from '../lib/time.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';

export const SESSION_TOKEN_PREFIX = 'cfs_';

/**
 * Who a store's sessions belong to. Users (members of tenants) today; staff, on their own
 * listener, next: each realm has its own token prefix, so a token of one realm never resolves
 * in another, and its own store instance built once in the wiring.
 */
export interface SessionRealm {
  name: 'user' | 'staff';
  tokenPrefix: string;
}

/** Members' sessions: the `sessions` table and `cfs_` tokens, as they have always been stored. */
export const USER_SESSIONS: SessionRealm = { name: 'user', tokenPrefix: SESSION_TOKEN_PREFIX };

/** How stale `last_seen_at` may get before a request refreshes it: saves a write per request. */
const LAST_SEEN_PRECISION_MS = 30_000;

export interface SessionPolicy {
  absoluteSeconds: number;
  idleSeconds: number;
  /** Live sessions one user may hold; a new sign-in beyond it ends the oldest. */
  maxPerUser: number;
}

/** Where a session was opened from; kept encrypted, shown to its user in their session list. */
export interface ClientInfo {
  ip: string;
  userAgent?: string;
}

export interface SessionView {
  id: string;
  tenantId: string;
  createdAt: string;
  lastSeenAt: string;
  ip: string;
  userAgent: string;
  current: boolean;
}

/** The hottest query of all (every authenticated request): built and compiled once. */
const resolveSession = preparedQuery(
  (db: Kysely<DB>, tokenHash: string) =>
    db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .innerJoin('memberships', (join) =>
      join.onRef('memberships.user_id', '=', 'sessions.user_id').onRef('memberships.tenant_id', '=', 'sessions.tenant_id'),
    )
    .leftJoin('tenant_settings', 'tenant_settings.tenant_id', 'sessions.tenant_id')
    .leftJoin('totp_factors', (join) => join.onRef('totp_factors.user_id', '=', 'sessions.user_id').on('totp_factors.confirmed_at', 'is not', null))
    .select([
      'sessions.id as sessionId',
      'sessions.created_at as createdAt',
      'tenant_settings.require_mfa as requireMfa',
      'tenant_settings.session_idle_seconds as tenantIdleSeconds',
      'tenant_settings.session_absolute_seconds as tenantAbsoluteSeconds',
      'totp_factors.user_id as totpUser',
      (eb) => eb.exists(eb.selectFrom('webauthn_credentials').select('webauthn_credentials.id').whereRef('webauthn_credentials.user_id', '=', 'sessions.user_id')).as('hasPasskey'),
      'sessions.user_id as userId',
      'sessions.tenant_id as tenantId',
      'sessions.last_seen_at as lastSeenAt',
      'sessions.expires_at as expiresAt',
      'sessions.revoked_at as revokedAt',
      'sessions.verified_at as verifiedAt',
      'users.disabled_at as disabledAt',
      'users.email_verified_at as emailVerifiedAt',
      'memberships.role as role',
    ])
    .where('sessions.token_hash', '=', tokenHash),
  1,
);

export interface IssuedSession {
  id: string;
  token: string;
  expiresAt: string;
}

/**
 * Server-side sessions: the client holds an opaque 256-bit token, the database only its SHA-256.
 * Each session is bound to one tenant and ends at its absolute expiry, after the idle timeout,
 * or at once when revoked.
 */
export class SessionStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly policy: SessionPolicy,
    private readonly clock: Clock,
    private readonly cipher: () => Cipher,
    private readonly realm: SessionRealm = USER_SESSIONS,
  ) {}

  async issue(userId: string, tenantId: string, client: ClientInfo): Promise<IssuedSession> {
    const now = this.clock.now();
    const session = {
      id: newId(),
      token: newBearerToken(this.realm.tokenPrefix),
      expiresAt: addSeconds(now, this.policy.absoluteSeconds).toISOString(),
    };
    await this.db
      .insertInto('sessions')
      .values({
        id: session.id,
        token_hash: hashToken(session.token),
        user_id: userId,
        tenant_id: tenantId,
        created_at: now.toISOString(),
        last_seen_at: now.toISOString(),
        expires_at: session.expiresAt,
        revoked_at: null,
        verified_at: now.toISOString(),
        ip_enc: this.cipher().encrypt(client.ip, ENCRYPTED_FIELDS.sessionsIp.location(session)),
        user_agent_enc: this.cipher().encrypt((client.userAgent ?? '').slice(0, 512), ENCRYPTED_FIELDS.sessionsUserAgent.location(session)),
      })
      .execute();
    await this.endSessionsBeyondCap(userId, now.toISOString());
    return session;
  }

  /** Sessions must not pile up without bound (a script signing in in a loop): the oldest go first. */
  private async endSessionsBeyondCap(userId: string, now: string): Promise<void> {
    const surplus = await this.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(this.policy.maxPerUser)
      .limit(1000)
      .execute();
    if (surplus.length === 0) return;
    await this.db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('id', 'in', surplus.map((row) => row.id))
      .execute();
  }

  /** The principal behind a token, or undefined when it is unknown, expired, idle, revoked or its user lost access. */
  async resolve(token: string): Promise<MemberPrincipal | undefined> {
    if (!token.startsWith(this.realm.tokenPrefix)) return undefined; // another realm's token: no query
    const [row] = await resolveSession(this.db, hashToken(token));
    if (!row || row.revokedAt !== null || row.disabledAt !== null) return undefined;

    // A tenant may shorten (never lengthen) the server's lifetimes, and that applies at once.
    const now = this.clock.now();
    const idleSeconds = Math.min(this.policy.idleSeconds, row.tenantIdleSeconds ?? Infinity);
    const absoluteSeconds = Math.min(this.policy.absoluteSeconds, row.tenantAbsoluteSeconds ?? Infinity);
    const idleUntil = addSeconds(new Date(row.lastSeenAt), idleSeconds);
    const absoluteUntil = addSeconds(new Date(row.createdAt), absoluteSeconds);
    if (now >= new Date(row.expiresAt) || now >= absoluteUntil || now >= idleUntil) return undefined;

    if (now.getTime() - new Date(row.lastSeenAt).getTime() > LAST_SEEN_PRECISION_MS) {
      await this.db.updateTable('sessions').set({ last_seen_at: now.toISOString() }).where('id', '=', row.sessionId).execute();
    }
    return {
      kind: 'member',
      userId: row.userId,
      tenantId: row.tenantId,
      role: row.role,
      sessionId: row.sessionId,
      sessionVerifiedAt: row.verifiedAt,
      mfaSatisfied: !row.requireMfa || row.totpUser !== null || Boolean(row.hasPasskey),
      emailVerified: row.emailVerifiedAt !== null,
    };
  }

  /** Records that the session's user just proved themselves again (password or factor). */
  async markVerified(sessionId: string): Promise<void> {
    await this.db.updateTable('sessions').set({ verified_at: this.clock.now().toISOString() }).where('id', '=', sessionId).execute();
  }

  /** The user's live sessions, in every tenant, newest first. */
  async listForUser(userId: string, currentSessionId: string): Promise<SessionView[]> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now.toISOString())
      .where('last_seen_at', '>', addSeconds(now, -this.policy.idleSeconds).toISOString())
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      tenantId: row.tenant_id,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      ip: row.ip_enc ? this.cipher().decrypt(row.ip_enc, ENCRYPTED_FIELDS.sessionsIp.location(row)) : '',
      userAgent: row.user_agent_enc ? this.cipher().decrypt(row.user_agent_enc, ENCRYPTED_FIELDS.sessionsUserAgent.location(row)) : '',
      current: row.id === currentSessionId,
    }));
  }

  /** Ends one of the user's own sessions; false when it is not theirs (or already ended). */
  async revokeOwn(userId: string, sessionId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ revoked_at: this.clock.now().toISOString() })
      .where('id', '=', sessionId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Ends every session of a user, in every tenant, but `keepSessionId`. */
  async revokeAllForUser(userId: string, keepSessionId?: string): Promise<void> {
    let query = this.db
      .updateTable('sessions')
      .set({ revoked_at: this.clock.now().toISOString() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keepSessionId) query = query.where('id', '!=', keepSessionId);
    await query.execute();
  }

  /** Ends a user's sessions in one tenant, inside the caller's transaction (their sessions elsewhere are untouched). */
  async revokeInTenant(trx: Kysely<DB>, tenantId: string, userId: string, now: string): Promise<void> {
    await trx
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async revoke(sessionId: string): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ revoked_at: this.clock.now().toISOString() })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute();
  }
}

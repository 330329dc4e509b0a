import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Clock } from '../lib/time.js';
import { openChallenge } from './mfa/mfa-challenges.js';
import { factorSummary, methodsFor } from './mfa/second-factors.js';
import type { ClientInfo, IssuedSession, SessionStore } from './session-store.js';

export interface SignedIn extends IssuedSession {
  tenantId: string;
  userId: string;
}

/** The password was right and the user has a second factor: the sign-in continues with a challenge. */
export interface MfaRequired {
  mfaRequired: true;
  challenge: string;
  methods: Array<'totp' | 'webauthn' | 'recoveryCode'>;
}

/**
 * The one step after a password was accepted (sign-in, accepting an invitation): a user with a
 * second factor gets a challenge to answer with it, anyone else a session at once.
 */
export class SignInCompletion {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly sessions: SessionStore,
  ) {}

  /** `beforeSession` runs only when a session is issued now (a second factor still due clears nothing). */
  async afterPassword(userId: string, tenantId: string, client: ClientInfo, beforeSession?: () => Promise<void>): Promise<SignedIn | MfaRequired> {
    const factors = await factorSummary(this.db, userId);
    if (factors.totp || factors.webauthn > 0) {
      return { mfaRequired: true, challenge: await openChallenge(this.db, this.clock, userId, tenantId), methods: methodsFor(factors) };
    }
    await beforeSession?.();
    return this.issue(userId, tenantId, client);
  }

  /** A session for a user whose every required proof passed. */
  async issue(userId: string, tenantId: string, client: ClientInfo): Promise<SignedIn> {
    const session = await this.sessions.issue(userId, tenantId, client);
    return { ...session, tenantId, userId };
  }
}

import { requireMember } from '../core/policies.js';
import type { Caller } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { addSeconds } from '../lib/time.js';
import { REAUTHENTICATION_SECONDS } from '../identity/mfa/mfa.js';
import { ownerKeys, type OwnerKeys, type StatusDeps } from './key-status.js';
import { rotateKey } from './rotate-key.js';
import type { RotationDeps } from './rotation-deps.js';
import type { JobProgress } from './rotation-jobs.js';

/**
 * A tenant's own view of its data key and its rotation (GET /v1/tenant/keys, POST /v1/tenant/keys/rotate):
 * its versions, the values each protects in its own rows, and what is due. Nothing of the master key,
 * the TLS set-up or another tenant: that is the operator's inventory (confide keys status).
 */
export class TenantKeys {
  constructor(private readonly deps: RotationDeps & StatusDeps) {}

  status(caller: Caller): Promise<OwnerKeys> {
    return ownerKeys(this.deps, caller.principal.tenantId);
  }

  /**
   * Rotates the tenant's data key. As for a factor change, it needs a signed-in owner whose session
   * proved its user (password or factor) within the last 5 minutes: a stolen or idle session, or an
   * API key, cannot start it.
   */
  async rotate(caller: Caller): Promise<JobProgress> {
    const member = requireMember(caller.principal);
    const verifiedAt = member.sessionVerifiedAt ? new Date(member.sessionVerifiedAt) : undefined;
    if (!verifiedAt || addSeconds(verifiedAt, REAUTHENTICATION_SECONDS) < this.deps.clock.now()) {
      throw new AppError('REAUTHENTICATION_REQUIRED', { message: 'Sign in again, then rotate the key within 5 minutes of signing in.' });
    }
    return rotateKey(this.deps, member.tenantId, { actor: { type: 'member', id: member.userId }, requestedBy: `member:${member.userId}`, ip: caller.ip });
  }
}

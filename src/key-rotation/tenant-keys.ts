import { requireMember } from '../core/policies.js';
import type { Caller } from '../core/principal.js';
import type { Mfa, Proof } from '../identity/mfa/mfa.js';
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
  constructor(
    private readonly deps: RotationDeps & StatusDeps,
    private readonly reauthentication: Pick<Mfa, 'reauthenticate'>,
  ) {}

  status(caller: Caller): Promise<OwnerKeys> {
    return ownerKeys(this.deps, caller.principal.tenantId);
  }

  /**
   * Rotates the tenant's data key. As for a factor change, it needs a signed-in owner who proves
   * their user: a password or a code in the request, or a session that did so within the last 5
   * minutes. A stolen or idle session, or an API key, cannot start it.
   */
  async rotate(caller: Caller, proof: Proof): Promise<JobProgress> {
    const member = requireMember(caller.principal);
    await this.reauthentication.reauthenticate(member, proof, caller.ip);
    return rotateKey(this.deps, member.tenantId, { actor: { type: 'member', id: member.userId }, requestedBy: `member:${member.userId}`, ip: caller.ip });
  }
}

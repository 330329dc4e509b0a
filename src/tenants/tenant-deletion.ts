import { requireMember } from '../core/policies.js';
import type { Caller } from '../core/principal.js';
import type { Mfa, Proof } from '../identity/mfa/mfa.js';
import { AppError } from '../lib/app-error.js';
import { deleteTenant, type TenantDeletionResult } from './delete-tenant.js';
import type { TenantDeletionDeps } from './tenants-deps.js';

/** Deleting a tenant: by its owner (DELETE /v1/tenant) or by the operator (`confide tenants delete`). */
export class TenantDeletion {
  constructor(
    private readonly deps: TenantDeletionDeps,
    private readonly reauthentication: Pick<Mfa, 'reauthenticate'>,
  ) {}

  /**
   * The owner deletes their own tenant. Nothing is more final, so it takes an owner who proves
   * their user (a password or a code in the request, or a session that did so within the last 5
   * minutes: a stolen or idle session, or an API key, cannot), and the tenant's id typed back in
   * the body, so a request aimed at the wrong tenant does nothing.
   */
  async deleteOwn(caller: Caller, confirm: string, proof: Proof): Promise<TenantDeletionResult> {
    const member = requireMember(caller.principal);
    if (confirm !== member.tenantId) {
      throw new AppError('VALIDATION_FAILED', { message: 'Type the id of your tenant in `confirm` to delete it.', details: { field: 'confirm', reason: 'confirmation_mismatch' } });
    }
    await this.reauthentication.reauthenticate(member, proof, caller.ip);
    const actor = { type: 'member' as const, id: member.userId };
    return deleteTenant(this.deps, member.tenantId, { actor, eventActor: actor, ip: caller.ip });
  }

  /** The operator deletes a tenant from the host; `operator` is the operating-system account that ran the command. */
  deleteAsOperator(tenantId: string, operator: string): Promise<TenantDeletionResult> {
    const id = `host:${operator}`;
    return deleteTenant(this.deps, tenantId, { actor: { type: 'operator', id }, eventActor: { type: 'operator', id } });
  }
}

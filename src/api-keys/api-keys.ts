import type { ApiKeysDeps } from './api-keys-deps.js';
import type { ApiKeyScope, Caller } from '../core/principal.js';
import { actorOf } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { countLiveApiKeys, insertApiKey, listApiKeys, newApiKey, revokeApiKey, type ApiKeyView } from './api-key-store.js';
import { assertPrintableName } from '../lib/printable-name.js';
import { lockRole } from '../members/member-repository.js';
import { isAllowedForRole } from '../core/policies.js';

/** Tenant-scoped keys for machine clients: created by owners and admins, shown once, revocable. */
export class ApiKeys {
  constructor(private readonly services: ApiKeysDeps) {}

  async create(caller: Caller, input: { name: string; scope: ApiKeyScope; expiresAt?: string }): Promise<{ id: string; key: string; prefix: string }> {
    const { db, keyRing, clock, transactions, securityEvents, config } = this.services;
    const now = clock.now();
    const name = assertPrintableName(input.name, 'name');
    if (input.expiresAt !== undefined && new Date(input.expiresAt) <= now) {
      throw new AppError('VALIDATION_FAILED', { message: 'The expiry must be in the future.', details: { field: 'expiresAt' } });
    }
    const tenantId = caller.principal.tenantId;
    const limit = config.limits.apiKeysPerTenant;
    // Counted before the insert: concurrent creations may pass the cap by a few, never grow without bound.
    if ((await countLiveApiKeys(db, tenantId)) >= limit) {
      throw new AppError('LIMIT_REACHED', { message: `A tenant may have at most ${limit} live API keys; revoke one first.`, details: { resource: 'apiKeys', limit } });
    }
    const cipher = await keyRing.cipherFor(tenantId);
    const id = newId();
    const generated = newApiKey();
    await transactions.run(async (trx) => {
      // The creator may be removed or demoted while this runs: check again, with their membership
      // locked, so a key never outlives the right to make it (removal revokes keys it can see).
      if (caller.principal.kind === 'member') {
        const role = await lockRole(trx, tenantId, caller.principal.userId, this.services.dialect.locksRowsForUpdate);
        if (!role || !isAllowedForRole(role, 'apiKeys.manage')) throw new AppError('FORBIDDEN');
      }
      await insertApiKey(trx, cipher, {
        id,
        tenantId,
        name,
        prefix: generated.prefix,
        hash: generated.hash,
        scope: input.scope,
        createdBy: actorOf(caller.principal).id,
        createdAt: now.toISOString(),
        expiresAt: input.expiresAt === undefined ? null : new Date(input.expiresAt).toISOString(),
      });
    });
    securityEvents.record({ type: 'apiKey.created', outcome: 'success', tenantId, actor: actorOf(caller.principal), ip: caller.ip, details: { apiKeyId: id, scope: input.scope } });
    return { id, key: generated.key, prefix: generated.prefix };
  }

  async list(caller: Caller): Promise<ApiKeyView[]> {
    const tenantId = caller.principal.tenantId;
    return listApiKeys(this.services.db, tenantId, await this.services.keyRing.cipherFor(tenantId));
  }

  async revoke(caller: Caller, id: string): Promise<void> {
    const { transactions, clock, securityEvents } = this.services;
    const tenantId = caller.principal.tenantId;
    const revoked = await transactions.run((trx) => revokeApiKey(trx, tenantId, id, clock.now().toISOString()));
    if (!revoked) throw new AppError('NOT_FOUND');
    securityEvents.record({ type: 'apiKey.revoked', outcome: 'success', tenantId, actor: actorOf(caller.principal), ip: caller.ip, details: { apiKeyId: id } });
  }
}

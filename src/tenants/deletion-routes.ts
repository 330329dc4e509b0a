import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { ProofFields } from '../identity/mfa/proof-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { TenantDeletion } from './tenant-deletion.js';

/** Deleting the tenant (crypto-shredding): the owner's last act on it. */
export function tenantDeletionRoutes(app: Router, deletion: TenantDeletion, authenticate: Authenticator): void {
  app.delete(
    '/v1/tenant',
    {
      onRequest: requireAuthentication(authenticate, 'tenant.delete'),
      schema: {
        tags: ['tenant'],
        security: [{ bearer: [] }],
        summary:
          'Delete the tenant for good (owner; `{"password"}` or `{"code"}` re-authentication, or none within 5 minutes of one): its keys are destroyed, then its records, members, API keys, ' +
          'invitations and log are removed, with the accounts of members who belong to no other tenant; every session and API key of it stops working at once. ' +
          'The `Confide-Shredded` header says whether the keys were destroyed where a restored copy of the database cannot bring them back (true) or the deployment has no tenant key store (false)',
        body: Type.Object({ confirm: Type.String({ description: 'the tenant’s id, typed back' }), ...ProofFields }, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const { confirm, ...proof } = request.body;
      const deleted = await deletion.deleteOwn(callerOf(request), confirm, proof);
      return reply.code(204).header('confide-shredded', String(deleted.shredded)).send(null);
    },
  );
}

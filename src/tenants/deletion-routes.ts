import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { TenantDeletion } from './tenant-deletion.js';

const FinalCheckpoint = Type.Object(
  {
    seq: Type.Integer(),
    hash: Type.String(),
    at: Type.String({ format: 'date-time' }),
    keyId: Type.String(),
    signature: Type.String({ description: 'Ed25519, base64url: verify it with GET /v1/access-log/public-keys (fetched before the deletion) or `confide audit public-keys`' }),
  },
  { description: 'the signed head of the tenant’s access log, taken after the deletion’s own entry: the operator keeps it' },
);

const Deleted = Type.Object({
  tenantId: Type.String(),
  deletedAt: Type.String({ format: 'date-time' }),
  shredded: Type.Boolean({
    description:
      'true: the tenant’s key-encryption key was destroyed, so its data can never be read again, not even from a restored copy of the database; ' +
      'false: the deployment has no tenant key store (CONFIDE_TENANT_KEY_DIR), its rows are removed but a restored copy plus the master key would read them',
  }),
  finalCheckpoint: Type.Union([FinalCheckpoint, Type.Null()]),
  usersRemoved: Type.Integer({ description: 'accounts removed with the tenant: its members who belonged to no other tenant' }),
});

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
          'Delete the tenant for good (owner, signed in or re-authenticated within 5 minutes): its keys are destroyed, then its records, members, API keys, ' +
          'invitations and log are removed, with the accounts of members who belong to no other tenant; every session and API key of it stops working at once',
        body: Type.Object({ confirm: Type.String({ description: 'the tenant’s id, typed back' }) }, { additionalProperties: false }),
        response: { 200: Deleted, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => deletion.deleteOwn(callerOf(request), request.body.confirm),
  );
}

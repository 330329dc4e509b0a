import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { ApiKeys } from './api-keys.js';

const Scope = Type.Union([Type.Literal('read'), Type.Literal('read-write')]);
const ApiKey = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  prefix: Type.String(),
  scope: Scope,
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** API keys: owners and admins create, list and revoke their tenant's keys. */
export function apiKeyRoutes(app: Router, apiKeys: ApiKeys, authenticate: Authenticator): void {
  const base = { onRequest: requireAuthentication(authenticate, 'apiKeys.manage') };
  const common = { tags: ['api keys'], security: [{ bearer: [] }] };

  app.post(
    '/v1/api-keys',
    {
      ...base,
      schema: {
        ...common,
        summary: 'Create an API key; the key (cfk_…) is shown only in this answer',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            scope: Scope,
            expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String(), key: Type.String(), prefix: Type.String() }), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      return reply.code(201).send(await apiKeys.create(caller, request.body));
    },
  );

  app.get(
    '/v1/api-keys',
    { ...base, schema: { ...common, summary: 'List the tenant’s active API keys (never the keys themselves)', response: { 200: Type.Object({ items: Type.Array(ApiKey) }), ...errorResponses(401, 403) } } },
    async (request) => {
      const caller = callerOf(request);
      return { items: await apiKeys.list(caller) };
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      ...base,
      schema: { ...common, summary: 'Revoke an API key: it stops working at once', params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 204: NoContent, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      await apiKeys.revoke(caller, request.params.id);
      return reply.code(204).send(null);
    },
  );
}

import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { SecurityEventQueryDeps } from './security-events-deps.js';
import { listForTenant } from './security-events.js';

const Event = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  type: Type.String(),
  outcome: Type.String(),
  actor: Type.Union([Type.Object({ type: Type.String(), id: Type.String() }), Type.Null()]),
  ip: Type.String(),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

/** The tenant's security events (owners and admins), newest first. */
export function securityEventRoutes(app: Router, services: SecurityEventQueryDeps, authenticate: Authenticator): void {
  app.get(
    '/v1/security-events',
    {
      onRequest: requireAuthentication(authenticate, 'securityEvents.read'),
      schema: {
        tags: ['security events'],
        security: [{ bearer: [] }],
        summary: 'Sign-ins, factor and password changes, member and key changes, refused actions: newest first',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            type: Type.Optional(Type.String({ pattern: '^[a-zA-Z.]{1,64}$' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Event), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listForTenant(services, callerOf(request), request.query),
  );
}

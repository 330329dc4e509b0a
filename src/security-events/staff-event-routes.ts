import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { requireStaffAuthentication, staffOf, type Authenticator } from '../http/authenticate.js';
import type { SecurityEventQueryDeps } from './security-events-deps.js';
import { listStaffEventsFor } from './staff-events.js';

const StaffEvent = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  type: Type.String(),
  outcome: Type.String(),
  actor: Type.Union([Type.Object({ type: Type.String(), id: Type.String() }), Type.Null()]),
  tenantId: Type.Union([Type.String(), Type.Null()], { description: 'the tenant the event concerns (it also appears in that tenant’s GET /v1/security-events); null for none' }),
  ip: Type.String(),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

/** Every staff action across tenants, on the admin listener, for security-admins. */
export function staffEventRoutes(app: Router, services: SecurityEventQueryDeps, authenticate: Authenticator): void {
  app.get(
    '/admin/v1/staff-events',
    {
      onRequest: requireStaffAuthentication(authenticate, { role: 'security-admin' }),
      schema: {
        tags: ['staff events'],
        security: [{ staffBearer: [] }],
        summary: 'Every staff action across tenants, newest first (security-admin)',
        description:
          'Security events whose actor is a staff member, and `staff.*` events with no actor (a sign-in attempt for an unknown address): ' +
          'sign-ins, access requests and decisions, grant uses and refusals, policy publications and acknowledgements. ' +
          '`staffId` keeps one staff member’s. A page holds at most `limit` events and ends early when its body would pass ' +
          'CONFIDE_LIST_MAX_BYTES (always at least one); `nextCursor` continues where it stopped, null after the last.',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            staffId: Type.Optional(Type.String({ format: 'uuid' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(StaffEvent), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listStaffEventsFor(services, staffOf(request), request.query),
  );
}

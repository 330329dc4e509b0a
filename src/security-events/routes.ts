import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { Services } from '../core/services.js';
import { AppError } from '../lib/app-error.js';
import { isUuid } from '../lib/ids.js';
import { listSecurityEvents } from './security-event-store.js';

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
export function securityEventRoutes(app: Router, services: Services, authenticate: Authenticator): void {
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
    async (request) => {
      const caller = callerOf(request);
      const beforeId = request.query.cursor === undefined ? undefined : Buffer.from(request.query.cursor, 'base64url').toString('utf8');
      if (beforeId !== undefined && !isUuid(beforeId)) {
        throw new AppError('VALIDATION_FAILED', { message: 'The cursor is not valid.', details: { field: 'cursor' } });
      }
      const page = await listSecurityEvents(services.db, services.keyRing.systemCipher(), caller.principal.tenantId, {
        limit: request.query.limit,
        beforeId,
        type: request.query.type,
      });
      return { items: page.items, nextCursor: page.nextBeforeId ? Buffer.from(page.nextBeforeId, 'utf8').toString('base64url') : null };
    },
  );
}

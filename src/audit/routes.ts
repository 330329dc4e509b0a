import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { AccessLogQueries } from './access-log-queries.js';

const Entry = Type.Object({
  seq: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.Object({ type: Type.String(), id: Type.String() }),
  action: Type.String(),
  resource: Type.Object({ type: Type.String(), collection: Type.Optional(Type.String()), id: Type.Optional(Type.String()) }),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  grantId: Type.Optional(Type.String()),
  justification: Type.Optional(Type.String()),
  ip: Type.String(),
  prevHash: Type.String(),
  hash: Type.String(),
});

const Report = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  head: Type.String(),
  firstBadSeq: Type.Union([Type.Integer(), Type.Null()]),
  problems: Type.Array(Type.Object({ seq: Type.Integer(), kind: Type.String(), message: Type.String() })),
});

/** The tenant's access log and its verification (owners and admins). */
export function accessLogRoutes(app: Router, queries: AccessLogQueries, authenticate: Authenticator): void {
  const common = { tags: ['access log'], security: [{ bearer: [] }] };

  app.get(
    '/v1/access-log',
    {
      onRequest: requireAuthentication(authenticate, 'accessLog.read'),
      schema: {
        ...common,
        summary: 'Read the access log, oldest first (reading it is itself logged)',
        description:
          'A page holds at most `limit` entries, and ends early when its body would pass CONFIDE_LIST_MAX_BYTES (4 MiB by default; ' +
          'always at least one entry). `nextCursor` continues exactly where the page stopped; it is null after the last entry.',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            actorType: Type.Optional(Type.Union([Type.Literal('member'), Type.Literal('apiKey'), Type.Literal('staff')])),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Entry), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      return queries.list(caller, request.query);
    },
  );

  app.get(
    '/v1/access-log/verify',
    { onRequest: requireAuthentication(authenticate, 'accessLog.verify'), schema: { ...common, summary: 'Verify the hash chain of the access log', response: { 200: Report, ...errorResponses(401, 403, 503) } } },
    async (request) => {
      const caller = callerOf(request);
      return queries.verify(caller);
    },
  );
}

import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { routeRateLimit } from '../http/rate-limits.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { PasswordStepResponses, sendPasswordStep } from '../identity/routes.js';
import type { Invitations } from './invitations.js';
import type { Members } from './members.js';

const RoleSchema = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);
const Member = Type.Object({ userId: Type.String(), email: Type.String(), role: RoleSchema, mfa: Type.Boolean() });
const MemberParams = Type.Object({ userId: Type.String({ format: 'uuid' }) });
const Invitation = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: RoleSchema,
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  invitedBy: Type.String({ description: 'the user id of the member who sent it' }),
});

const common = { tags: ['members'], security: [{ bearer: [] }] };

/** Who may read and who may manage a tenant's members and invitations. */
function memberAccess(authenticate: Authenticator) {
  return {
    reading: { onRequest: requireAuthentication(authenticate, 'members.read') },
    managing: { onRequest: requireAuthentication(authenticate, 'members.manage') },
  };
}

/** Members, roles and invitations. */
export function memberRoutes(app: Router, members: Members, invitations: Invitations, authenticate: Authenticator): void {
  memberListRoute(app, members, authenticate);
  invitationRoutes(app, invitations, authenticate);
  memberChangeRoutes(app, members, authenticate);
}

function memberListRoute(app: Router, members: Members, authenticate: Authenticator): void {
  const { reading } = memberAccess(authenticate);
  app.get(
    '/v1/members',
    {
      ...reading,
      schema: {
        ...common,
        summary: 'The tenant’s members, their roles and whether they have a second factor, in the order they joined',
        description:
          'A page holds at most `limit` members, and ends early when its body would pass CONFIDE_LIST_MAX_BYTES (4 MiB by default; ' +
          'always at least one member). `nextCursor` continues exactly where the page stopped; it is null after the last member.',
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 500, default: 500 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Member), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => members.list(callerOf(request), request.query),
  );
}

/** Inviting, listing and withdrawing invitations, and accepting one (no sign-in needed: the token is the proof). */
function invitationRoutes(app: Router, invitations: Invitations, authenticate: Authenticator): void {
  const { reading, managing } = memberAccess(authenticate);
  app.post(
    '/v1/invitations',
    {
      config: { rateLimit: routeRateLimit('invitationSend') },
      ...managing,
      schema: {
        ...common,
        summary: 'Invite someone by e-mail (the single-use token travels only in the e-mail, valid 7 days)',
        description: 'Capped per tenant per hour (429 RATE_LIMITED, CONFIDE_INVITATIONS_PER_HOUR) and in how many may be pending (409 LIMIT_REACHED, CONFIDE_MAX_PENDING_INVITATIONS).',
        body: Type.Object({ email: Type.String({ minLength: 3, maxLength: 254 }), role: RoleSchema }, { additionalProperties: false }),
        response: { 201: Type.Object({ id: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }), ...errorResponses(400, 401, 403, 409, 429) },
      },
    },
    async (request, reply) => reply.code(201).send(await invitations.invite(callerOf(request), request.body)),
  );

  app.get(
    '/v1/invitations',
    {
      ...reading,
      schema: {
        ...common,
        summary: 'Pending invitations (not yet accepted, revoked or expired), oldest first',
        response: { 200: Type.Object({ items: Type.Array(Invitation) }), ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ items: await invitations.listPending(callerOf(request)) }),
  );

  app.delete(
    '/v1/invitations/:id',
    {
      ...managing,
      schema: { ...common, summary: 'Withdraw a pending invitation: its token stops working at once', params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 204: NoContent, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      await invitations.revoke(callerOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/invitations/accept',
    {
      schema: {
        tags: ['members'],
        summary: 'Accept an invitation: a new user sets a password, an existing user gives theirs; answers as sign-in does',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }), password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })) }, { additionalProperties: false }),
        response: { ...PasswordStepResponses, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => sendPasswordStep(reply, await invitations.accept({ ...request.body, ip: request.ip, userAgent: request.headers['user-agent'] })),
  );
}

function memberChangeRoutes(app: Router, members: Members, authenticate: Authenticator): void {
  const { managing } = memberAccess(authenticate);
  app.patch(
    '/v1/members/:userId',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'Change a member’s role (a tenant keeps at least one owner)',
        params: MemberParams,
        body: Type.Object({ role: RoleSchema }, { additionalProperties: false }),
        response: { 200: Member, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => members.changeRole(callerOf(request), request.params.userId, request.body.role),
  );

  app.delete(
    '/v1/members/:userId',
    { ...managing, schema: { ...common, summary: 'Remove a member: their sessions in this tenant end at once', params: MemberParams, response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 409) } } },
    async (request, reply) => {
      await members.remove(callerOf(request), request.params.userId);
      return reply.code(204).send(null);
    },
  );
}

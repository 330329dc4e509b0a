import { Type } from 'typebox';
import type { Router } from '../../http/route-types.js';
import { routeRateLimit } from '../../http/rate-limits.js';
import { NoContent, errorResponses } from '../../http/error-schema.js';
import { memberOf, requireAuthentication, type Authenticator } from '../../http/authenticate.js';
import type { Account } from './account.js';

const SessionItem = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  ip: Type.String(),
  userAgent: Type.String(),
  current: Type.Boolean(),
});
const Password = Type.String({ minLength: 1, maxLength: 4096 });

/** Passwords (change, reset by e-mail) and the user's own sessions. */
export function accountRoutes(app: Router, account: Account, authenticate: Authenticator): void {
  passwordResetRoutes(app, account);
  signedInAccountRoutes(app, account, authenticate);
}

/** Resetting a forgotten password by e-mail: no sign-in, the e-mailed token is the proof. */
function passwordResetRoutes(app: Router, account: Account): void {
  app.post(
    '/v1/password-resets',
    {
      config: { rateLimit: routeRateLimit('passwordReset') },
      schema: {
        tags: ['identity'],
        summary: 'Ask for a password-reset e-mail; answers 202 whether or not the address has an account',
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }) }, { additionalProperties: false }),
        response: { 202: NoContent, ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      await account.requestPasswordReset(request.body.email, request.ip);
      return reply.code(202).send(null);
    },
  );

  app.post(
    '/v1/password-resets/confirm',
    {
      schema: {
        tags: ['identity'],
        summary: 'Set a new password with the e-mailed token; signs every session out, signs nobody in',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }), password: Password }, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      await account.confirmPasswordReset(request.body.token, request.body.password, request.ip);
      return reply.code(204).send(null);
    },
  );
}

/** The signed-in user's password and sessions. */
function signedInAccountRoutes(app: Router, account: Account, authenticate: Authenticator): void {
  const signedIn = { onRequest: requireAuthentication(authenticate, 'member') };
  const common = { tags: ['identity'], security: [{ bearer: [] }] };

  app.post(
    '/v1/me/password',
    {
      ...signedIn,
      schema: {
        ...common,
        summary: 'Change your password; your other sessions end',
        body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      await account.changePassword(memberOf(request), request.body.currentPassword, request.body.newPassword, request.ip);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/sessions',
    { ...signedIn, schema: { ...common, summary: 'Your live sessions, in every tenant', response: { 200: Type.Object({ items: Type.Array(SessionItem) }), ...errorResponses(401) } } },
    async (request) => ({ items: await account.listSessions(memberOf(request)) }),
  );

  app.delete(
    '/v1/sessions/:id',
    {
      ...signedIn,
      schema: { ...common, summary: 'End one of your sessions', params: Type.Object({ id: Type.String({ format: 'uuid' }) }), response: { 204: NoContent, ...errorResponses(400, 401, 404) } },
    },
    async (request, reply) => {
      await account.endSession(memberOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}

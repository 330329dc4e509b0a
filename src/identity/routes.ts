import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import type { Router } from '../http/route-types.js';
import { routeRateLimit } from '../http/rate-limits.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { memberOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import type { Identity } from './identity.js';
import type { MfaRequired, SignedIn } from './sign-in-completion.js';

export const Session = Type.Object({
  token: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  tenantId: Type.String({ format: 'uuid' }),
  userId: Type.String({ format: 'uuid' }),
});
const UserRef = Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String(), emailVerified: Type.Boolean() });
const TenantRef = Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() });

/** What a password step answers (sign-in, accepting an invitation): a session (201), or a challenge for the second factor (200). */
export const PasswordStepResponses = {
  201: Session,
  200: Type.Object({ mfaRequired: Type.Literal(true), challenge: Type.String(), methods: Type.Array(Type.String()) }, { description: 'The password was right; finish with POST /v1/sessions/mfa' }),
};

/** Sends the outcome of a password step: 200 with the challenge when a second factor is due, else 201 with the session. */
export function sendPasswordStep(reply: FastifyReply, result: SignedIn | MfaRequired): FastifyReply {
  if ('mfaRequired' in result) return reply.code(200).send(result);
  return reply.code(201).send({ token: result.token, expiresAt: result.expiresAt, tenantId: result.tenantId, userId: result.userId });
}

export interface IdentityRouteLimits {
  signUpsPerIpPerHour: number;
}

/** Sign-up, sessions, e-mail verification and the signed-in user. */
export function identityRoutes(app: Router, identity: Identity, authenticate: Authenticator, limits: IdentityRouteLimits): void {
  signUpRoutes(app, identity, limits);
  emailVerificationRoutes(app, identity, authenticate);
  sessionRoutes(app, identity, authenticate);
}

// Open even before a required second factor is set up or the address verified: to see who you are, and to leave.
const unverifiedAllowed = (authenticate: Authenticator) => ({
  onRequest: requireAuthentication(authenticate, 'member', { allowWithoutMfa: true, allowUnverifiedEmail: true }),
});

function signUpRoutes(app: Router, identity: Identity, limits: IdentityRouteLimits): void {
  app.post(
    '/v1/signup',
    {
      // Its own per-IP limit: sign-up is open to anyone and sends an e-mail.
      config: { rateLimit: { max: limits.signUpsPerIpPerHour, timeWindow: 3_600_000 } },
      schema: {
        tags: ['identity'],
        summary: 'Create an organisation (tenant) and its owner; e-mails the owner a link to verify the address',
        description: `Until the address is verified, the owner can only sign in, read GET /v1/me and sign out (403 EMAIL_NOT_VERIFIED elsewhere). At most ${limits.signUpsPerIpPerHour} sign-ups per client address per hour (429).`,
        body: Type.Object(
          {
            organization: Type.String({ minLength: 1, maxLength: 200 }),
            email: Type.String({ minLength: 3, maxLength: 254 }),
            password: Type.String({ minLength: 1, maxLength: 4096 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ tenant: TenantRef, user: UserRef }), ...errorResponses(400, 409, 413, 429) },
      },
    },
    async (request, reply) => reply.code(201).send(await identity.signUp(request.body, request.ip)),
  );
}

function emailVerificationRoutes(app: Router, identity: Identity, authenticate: Authenticator): void {
  app.post(
    '/v1/email-verifications/confirm',
    {
      schema: {
        tags: ['identity'],
        summary: 'Verify your e-mail address with the token from the e-mailed link (no sign-in needed)',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      await identity.emailVerifications.confirm(request.body.token, request.ip);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/email-verifications',
    {
      ...unverifiedAllowed(authenticate),
      schema: {
        tags: ['identity'],
        summary: 'E-mail yourself a new verification link (at most 3 an hour); 409 when already verified',
        security: [{ bearer: [] }],
        response: { 202: NoContent, ...errorResponses(401, 409, 429) },
      },
    },
    async (request, reply) => {
      const principal = memberOf(request);
      await identity.emailVerifications.resend(principal, request.ip);
      return reply.code(202).send(null);
    },
  );
}

/** Signing in and out, and who the session belongs to. */
function sessionRoutes(app: Router, identity: Identity, authenticate: Authenticator): void {
  app.post(
    '/v1/sessions',
    {
      config: { rateLimit: routeRateLimit('signIn') },
      schema: {
        tags: ['identity'],
        summary: 'Sign in with e-mail and password',
        body: Type.Object(
          {
            email: Type.String({ minLength: 1, maxLength: 254 }),
            password: Type.String({ minLength: 1, maxLength: 4096 }),
            tenantId: Type.Optional(Type.String({ format: 'uuid' })),
          },
          { additionalProperties: false },
        ),
        response: { ...PasswordStepResponses, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => sendPasswordStep(reply, await identity.signIn({ ...request.body, ip: request.ip, userAgent: request.headers['user-agent'] })),
  );

  const authenticated = unverifiedAllowed(authenticate);

  app.delete(
    '/v1/sessions/current',
    {
      ...authenticated,
      schema: { tags: ['identity'], summary: 'Sign out: the token stops working at once', security: [{ bearer: [] }], response: { 204: NoContent, ...errorResponses(401) } },
    },
    async (request, reply) => {
      await identity.signOut(memberOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/me',
    {
      ...authenticated,
      schema: {
        tags: ['identity'],
        summary: 'The signed-in user, their tenant and role',
        security: [{ bearer: [] }],
        response: {
          200: Type.Object({
            user: UserRef,
            tenant: TenantRef,
            role: Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]),
            mfa: Type.Object({ totp: Type.Boolean(), webauthn: Type.Integer({ description: 'passkeys registered' }), recoveryCodes: Type.Integer({ description: 'unused recovery codes' }) }),
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => identity.me(memberOf(request)),
  );
}

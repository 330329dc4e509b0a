import { Type } from 'typebox';
import type { Router } from '../../http/route-types.js';
import { routeRateLimit } from '../../http/rate-limits.js';
import { NoContent, errorResponses } from '../../http/error-schema.js';
import { memberOf, requireAuthentication, type Authenticator } from '../../http/authenticate.js';
import { optionalBody } from '../../http/validators.js';
import { Session } from '../routes.js';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Mfa } from './mfa.js';
import { ProofSchema } from './proof-schema.js';

const Proof = ProofSchema;
const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) });
/** A PublicKeyCredential as JSON (from the browser); @simplewebauthn verifies its inside. */
const WebauthnResponse = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 1024 }),
    rawId: Type.String({ minLength: 1, maxLength: 1024 }),
    type: Type.Literal('public-key'),
    response: Type.Object({}, { additionalProperties: true }),
  },
  { additionalProperties: true },
);
const Options = Type.Object({}, { additionalProperties: true, description: 'WebAuthn options JSON for the browser' });

const PasskeyList = Type.Object({
  items: Type.Array(
    Type.Object({ id: Type.String(), createdAt: Type.String(), lastUsedAt: Type.Union([Type.String(), Type.Null()]), transports: Type.Array(Type.String()) }),
  ),
});
const common = { tags: ['mfa'], security: [{ bearer: [] }] };

/** The access rules of factor routes: a signed-in member, and enrolment open to one who still lacks a required factor. */
function factorAccess(authenticate: Authenticator) {
  return {
    base: { onRequest: requireAuthentication(authenticate, 'member') },
    // Enrolment stays open to a member whose tenant requires MFA: it is how they satisfy it.
    enrolment: { onRequest: requireAuthentication(authenticate, 'member', { allowWithoutMfa: true }) },
  };
}

/** Second factors (TOTP, passkeys, recovery codes) and the second step of sign-in. */
export function mfaRoutes(app: Router, mfa: Mfa, authenticate: Authenticator): void {
  signInSecondStepRoutes(app, mfa);
  totpRoutes(app, mfa, authenticate);
  passkeyRoutes(app, mfa, authenticate);
}

/** The second step of sign-in: answering the challenge with a factor (no session yet). */
function signInSecondStepRoutes(app: Router, mfa: Mfa): void {
  app.post(
    '/v1/sessions/mfa',
    {
      config: { rateLimit: routeRateLimit('signIn') },
      schema: {
        tags: ['identity'],
        summary: 'Finish signing in with a TOTP code or a recovery code',
        body: Type.Object(
          {
            challenge: Type.String({ minLength: 1, maxLength: 200 }),
            code: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
            recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
            webauthn: Type.Optional(WebauthnResponse),
          },
          { additionalProperties: false },
        ),
        response: { 201: Session, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const { challenge, code, recoveryCode, webauthn } = request.body;
      const assertion = webauthn as AuthenticationResponseJSON | undefined;
      const session = await mfa.completeSignIn(challenge, { code, recoveryCode, webauthn: assertion }, request.ip, request.headers['user-agent']);
      return reply.code(201).send({ token: session.token, expiresAt: session.expiresAt, tenantId: session.tenantId, userId: session.userId });
    },
  );
}

/** The authenticator app and the recovery codes. */
function totpRoutes(app: Router, mfa: Mfa, authenticate: Authenticator): void {
  const { base, enrolment } = factorAccess(authenticate);
  app.post(
    '/v1/mfa/totp',
    {
      ...enrolment,
      schema: {
        ...common,
        summary: 'Start setting up an authenticator app (pending until confirmed)',
        body: optionalBody(Proof),
        response: { 201: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      return reply.code(201).send(await mfa.beginTotp(memberOf(request), request.body ?? {}, request.ip));
    },
  );

  app.post(
    '/v1/mfa/totp/confirm',
    {
      ...enrolment,
      schema: {
        ...common,
        summary: 'Confirm the authenticator app with its first code; returns 10 recovery codes, shown only here',
        body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 20 }) }, { additionalProperties: false }),
        response: { 200: RecoveryCodes, ...errorResponses(400, 401, 409) },
      },
    },
    async (request) => {
      return mfa.confirmTotp(memberOf(request), request.body.code, request.ip);
    },
  );

  app.delete(
    '/v1/mfa/totp',
    { ...base, schema: { ...common, summary: 'Remove the authenticator app (and the recovery codes)', body: optionalBody(Proof), response: { 204: NoContent, ...errorResponses(400, 401, 403, 404) } } },
    async (request, reply) => {
      await mfa.removeTotp(memberOf(request), request.body ?? {}, request.ip);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/mfa/recovery-codes',
    { ...base, schema: { ...common, summary: 'Replace the recovery codes with 10 new ones', body: optionalBody(Proof), response: { 200: RecoveryCodes, ...errorResponses(400, 401, 403, 409) } } },
    async (request) => {
      return mfa.regenerateRecoveryCodes(memberOf(request), request.body ?? {}, request.ip);
    },
  );
}

/** Passkeys: the sign-in options, registration, the list and removal. */
function passkeyRoutes(app: Router, mfa: Mfa, authenticate: Authenticator): void {
  const { base, enrolment } = factorAccess(authenticate);
  app.post(
    '/v1/sessions/mfa/webauthn-options',
    {
      config: { rateLimit: routeRateLimit('signIn') },
      schema: {
        tags: ['identity'],
        summary: 'Options for signing in with a passkey as the second step',
        body: Type.Object({ challenge: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 200: Options, ...errorResponses(400, 401, 409) },
      },
    },
    async (request) => mfa.webauthnSignInOptions(request.body.challenge),
  );

  app.post(
    '/v1/mfa/webauthn/registration-options',
    { ...enrolment, schema: { ...common, summary: 'Options for registering a passkey', body: optionalBody(Proof), response: { 200: Options, ...errorResponses(400, 401, 403) } } },
    async (request) => mfa.webauthnRegistrationOptions(memberOf(request), request.body ?? {}, request.ip),
  );

  app.post(
    '/v1/mfa/webauthn/registrations',
    {
      ...enrolment,
      schema: {
        ...common,
        summary: 'Register a passkey from its attestation response (the first factor also returns recovery codes)',
        body: WebauthnResponse,
        response: { 201: Type.Object({ id: Type.String(), recoveryCodes: Type.Optional(Type.Array(Type.String())) }), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => reply.code(201).send(await mfa.registerWebauthn(memberOf(request), request.body as unknown as RegistrationResponseJSON, request.ip)),
  );

  app.get(
    '/v1/mfa/webauthn/credentials',
    { ...base, schema: { ...common, summary: 'Your passkeys', response: { 200: PasskeyList, ...errorResponses(401) } } },
    async (request) => ({ items: await mfa.listWebauthn(memberOf(request)) }),
  );

  app.delete(
    '/v1/mfa/webauthn/credentials/:id',
    {
      ...base,
      schema: {
        ...common,
        summary: 'Remove a passkey',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        body: optionalBody(Proof),
        response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await mfa.removeWebauthn(memberOf(request), request.params.id, request.body ?? {}, request.ip);
      return reply.code(204).send(null);
    },
  );
}

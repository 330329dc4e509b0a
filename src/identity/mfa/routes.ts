import { Type } from 'typebox';
import type { Router } from '../../http/route-types.js';
import { NoContent, errorResponses } from '../../http/error-schema.js';
import { memberOf, requireAuthentication, type Authenticator } from '../../http/authenticate.js';
import { optionalBody } from '../../http/validators.js';
import { Session } from '../routes.js';
import type { Mfa } from './mfa.js';

/** `{"password"}` or `{"code"}`: the fresh check a factor change asks for (or none, within 5 minutes of one). */
const Proof = Type.Object(
  {
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  },
  { additionalProperties: false },
);
const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) });

/** Second factors (TOTP, recovery codes) and the second step of sign-in. */
export function mfaRoutes(app: Router, mfa: Mfa, authenticate: Authenticator): void {
  const common = { tags: ['mfa'], security: [{ bearer: [] }] };
  const base = { onRequest: requireAuthentication(authenticate, 'member') };
  // Enrolment stays open to a member whose tenant requires MFA: it is how they satisfy it.
  const enrolment = { onRequest: requireAuthentication(authenticate, 'member', { allowWithoutMfa: true }) };

  app.post(
    '/v1/sessions/mfa',
    {
      schema: {
        tags: ['identity'],
        summary: 'Finish signing in with a TOTP code or a recovery code',
        body: Type.Object(
          {
            challenge: Type.String({ minLength: 1, maxLength: 200 }),
            code: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
            recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Session, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const { challenge, code, recoveryCode } = request.body;
      const session = await mfa.completeSignIn(challenge, { code, recoveryCode }, request.ip, request.headers['user-agent']);
      return reply.code(201).send({ token: session.token, expiresAt: session.expiresAt, tenantId: session.tenantId, userId: session.userId });
    },
  );

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

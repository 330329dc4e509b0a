import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { routeRateLimit } from '../http/rate-limits.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { requireStaffAuthentication, staffOf, type Authenticator } from '../http/authenticate.js';
import { STAFF_POLICY_LIMITS } from './staff-policies.js';
import type { Staff } from './staff.js';

const common = { tags: ['staff'], security: [{ staffBearer: [] }] };
const open = { tags: ['staff'] };
const Token = Type.String({ minLength: 1, maxLength: 200 });
/** Enrolment tokens are 256-bit, so this only bounds the work a client can cause. */
const ENROLMENT_RATE = { max: 20, timeWindow: 60_000 };

const Policy = Type.Object({ version: Type.Integer(), title: Type.String(), body: Type.String(), publishedAt: Type.String({ format: 'date-time' }) });

/** Staff accounts on the admin listener: enrolment, two-step sign-in, who am I, the staff policy. */
export function staffRoutes(app: Router, staff: Staff, authenticate: Authenticator): void {
  enrolmentRoutes(app, staff);
  sessionRoutes(app, staff, authenticate);
  policyRoutes(app, staff, authenticate);
}

function enrolmentRoutes(app: Router, staff: Staff): void {
  app.post(
    '/admin/v1/enrolment',
    {
      config: { rateLimit: ENROLMENT_RATE },
      schema: {
        ...open,
        summary: 'Start enrolment with the token from `confide staff add`: set a password, get an authenticator-app secret',
        description: 'The password follows the same policy as customers’ passwords. Enrolment completes only with POST /admin/v1/enrolment/confirm; until then the account cannot sign in.',
        body: Type.Object({ token: Token, password: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => staff.enrolment.start(request.body.token, request.body.password),
  );

  app.post(
    '/admin/v1/enrolment/confirm',
    {
      config: { rateLimit: ENROLMENT_RATE },
      schema: {
        ...open,
        summary: 'Finish enrolment with a first code from the authenticator app; returns 10 single-use recovery codes, shown once',
        body: Type.Object({ token: Token, code: Type.String({ minLength: 1, maxLength: 20 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ recoveryCodes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) }), ...errorResponses(400, 401, 409, 429) },
      },
    },
    async (request) => staff.enrolment.confirm(request.body.token, request.body.code, request.ip),
  );
}

function sessionRoutes(app: Router, staff: Staff, authenticate: Authenticator): void {
  signInRoutes(app, staff);
  signedInRoutes(app, staff, authenticate);
}

/** The two sign-in steps, each limited per address on top of the staff sign-in throttle. */
function signInRoutes(app: Router, staff: Staff): void {
  app.post(
    '/admin/v1/sessions',
    {
      config: { rateLimit: routeRateLimit('signIn') },
      schema: {
        ...open,
        summary: 'Staff sign-in, first step: e-mail and password; always answers with a challenge for the second factor',
        body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ mfaRequired: Type.Literal(true), challenge: Type.String(), methods: Type.Array(Type.String()) }), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => staff.signIn.password(request.body.email, request.body.password, request.ip),
  );

  app.post(
    '/admin/v1/sessions/mfa',
    {
      config: { rateLimit: routeRateLimit('signIn') },
      schema: {
        ...open,
        summary: 'Staff sign-in, second step: a TOTP code or a recovery code; the session lasts at most 12 h, 15 min idle',
        body: Type.Object(
          { challenge: Token, code: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })), recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), expiresAt: Type.String({ format: 'date-time' }), staffId: Type.String({ format: 'uuid' }) }), ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const { challenge, code, recoveryCode } = request.body;
      const session = await staff.signIn.secondFactor(challenge, { code, recoveryCode }, request.ip);
      return reply.code(201).send({ token: session.token, expiresAt: session.expiresAt, staffId: session.staffId });
    },
  );
}

function signedInRoutes(app: Router, staff: Staff, authenticate: Authenticator): void {
  const beforePolicy = { onRequest: requireStaffAuthentication(authenticate, { allowUnacknowledgedPolicy: true }) };
  app.delete(
    '/admin/v1/sessions/current',
    { ...beforePolicy, schema: { ...common, summary: 'Sign out: the staff token stops working at once', response: { 204: NoContent, ...errorResponses(401) } } },
    async (request, reply) => {
      await staff.signOut(staffOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/admin/v1/me',
    {
      ...beforePolicy,
      schema: {
        ...common,
        summary: 'The signed-in staff member, and whether they have acknowledged the current staff policy',
        response: {
          200: Type.Object({
            staff: Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String(), role: Type.String() }),
            policy: Type.Object({ version: Type.Union([Type.Integer(), Type.Null()]), acknowledged: Type.Boolean() }),
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => staff.me(staffOf(request)),
  );
}

function policyRoutes(app: Router, staff: Staff, authenticate: Authenticator): void {
  const beforePolicy = { onRequest: requireStaffAuthentication(authenticate, { allowUnacknowledgedPolicy: true }) };
  app.get(
    '/admin/v1/staff-policy',
    { ...beforePolicy, schema: { ...common, summary: 'The current internal staff policy', response: { 200: Policy, ...errorResponses(401, 404) } } },
    async () => staff.policies.read(),
  );

  app.post(
    '/admin/v1/staff-policy',
    {
      onRequest: requireStaffAuthentication(authenticate, { role: 'security-admin' }),
      schema: {
        ...common,
        summary: 'Publish a new version of the staff policy (security-admin); every staff member must acknowledge it before doing anything else',
        body: Type.Object(
          { title: Type.String({ minLength: 1, maxLength: STAFF_POLICY_LIMITS.titleChars }), body: Type.String({ minLength: 1, maxLength: STAFF_POLICY_LIMITS.bodyChars }) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ version: Type.Integer() }), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await staff.policies.publish(staffOf(request), request.body, request.ip)),
  );

  app.post(
    '/admin/v1/staff-policy/:version/acknowledge',
    {
      ...beforePolicy,
      schema: {
        ...common,
        summary: 'Acknowledge a version of the staff policy (it must be the current one)',
        params: Type.Object({ version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }),
        response: { 204: NoContent, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      await staff.policies.acknowledge(staffOf(request), request.params.version, request.ip);
      return reply.code(204).send(null);
    },
  );
}

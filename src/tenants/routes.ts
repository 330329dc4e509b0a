import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { SESSION_ABSOLUTE_BOUNDS, SESSION_IDLE_BOUNDS, STAFF_ACCESS_MAX_MINUTES } from './tenant-settings.js';
import type { TenantSettingsUseCases } from './tenant-settings-use-cases.js';

const StaffAccessMode = Type.Union([Type.Literal('approval_required'), Type.Literal('notify'), Type.Literal('deny')], {
  description:
    'How the operator’s staff may reach this tenant’s data: `approval_required` (default: an owner or admin approves each request), ' +
    '`notify` (a request is granted at once and owners and admins are e-mailed), `deny` (never; break-glass included).',
});

const Settings = Type.Object({
  requireMfa: Type.Boolean(),
  sessionIdleSeconds: Type.Union([Type.Integer(), Type.Null()]),
  sessionAbsoluteSeconds: Type.Union([Type.Integer(), Type.Null()]),
  staffAccess: StaffAccessMode,
  staffAccessMaxMinutes: Type.Integer(),
});

/** The tenant's security settings. */
export function tenantRoutes(app: Router, settings: TenantSettingsUseCases, authenticate: Authenticator): void {
  const common = { tags: ['tenant'], security: [{ bearer: [] }] };

  app.get(
    '/v1/tenant/settings',
    { onRequest: requireAuthentication(authenticate, 'tenant.settings'), schema: { ...common, summary: 'The tenant’s security settings', response: { 200: Settings, ...errorResponses(401, 403) } } },
    async (request) => settings.get(callerOf(request)),
  );

  app.patch(
    '/v1/tenant/settings',
    {
      onRequest: requireAuthentication(authenticate, 'tenant.settings'),
      schema: {
        ...common,
        summary: 'Change the security settings: require MFA of every member, shorten session lifetimes (null: server default), choose how staff may reach the data',
        body: Type.Object(
          {
            requireMfa: Type.Optional(Type.Boolean()),
            sessionIdleSeconds: Type.Optional(Type.Union([Type.Integer({ minimum: SESSION_IDLE_BOUNDS.min, maximum: SESSION_IDLE_BOUNDS.max }), Type.Null()])),
            sessionAbsoluteSeconds: Type.Optional(
              Type.Union([Type.Integer({ minimum: SESSION_ABSOLUTE_BOUNDS.min, maximum: SESSION_ABSOLUTE_BOUNDS.max }), Type.Null()]),
            ),
            staffAccess: Type.Optional(StaffAccessMode),
            staffAccessMaxMinutes: Type.Optional(
              Type.Integer({ minimum: STAFF_ACCESS_MAX_MINUTES.min, maximum: STAFF_ACCESS_MAX_MINUTES.max, description: 'The longest staff grant accepted, in minutes (default 120).' }),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Settings, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => settings.update(callerOf(request), request.body),
  );
}

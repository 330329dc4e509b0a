import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { optionalBody } from '../http/validators.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { DenyBody, Grant, GrantPage, IdParams, Paging, Request, RequestPage, Status } from './access-request-schemas.js';
import type { StaffAccess } from './staff-access.js';
import type { StaffAccessDeps } from './staff-access-deps.js';
import { approveForTenant, denyForTenant, listTenantGrants, listTenantRequests, revokeForTenant } from './tenant-decisions.js';

const common = { tags: ['staff access'], security: [{ bearer: [] }] };

/**
 * The customer's side of staff access (public listener; owners and admins): see every request
 * for this tenant, approve or deny, see and revoke grants.
 */
export function staffAccessTenantRoutes(app: Router, staffAccess: StaffAccess, authenticate: Authenticator): void {
  const managing = { onRequest: requireAuthentication(authenticate, 'staffAccess.manage') };
  requestRoutes(app, staffAccess.services, managing);
  grantRoutes(app, staffAccess.services, managing);
}

type Managing = { onRequest: ReturnType<typeof requireAuthentication> };

function requestRoutes(app: Router, deps: StaffAccessDeps, managing: Managing): void {
  app.get(
    '/v1/access-requests',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'The operator’s staff’s requests for access to this tenant, newest first',
        querystring: Type.Object({ status: Type.Optional(Status), ...Paging }, { additionalProperties: false }),
        response: { 200: RequestPage, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listTenantRequests(deps, callerOf(request), request.query),
  );

  app.post(
    '/v1/access-requests/:id/approve',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'Approve a pending request: the grant starts now and lasts the duration asked',
        description:
          'Only a pending request that is not break-glass (a second security-admin of the operator activates those: 409 `break_glass`); ' +
          'one already decided or lapsed answers 409 `not_pending`. The staff member is e-mailed.',
        params: IdParams,
        response: { 200: Request, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => approveForTenant(deps, callerOf(request), request.params.id),
  );

  app.post(
    '/v1/access-requests/:id/deny',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'Deny a pending request (break-glass ones too), optionally saying why',
        description: 'One already decided or lapsed answers 409 `not_pending`. The staff member is e-mailed (without your reason, which the admin API shows).',
        params: IdParams,
        body: optionalBody(DenyBody),
        response: { 200: Request, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => denyForTenant(deps, callerOf(request), request.params.id, request.body ?? {}),
  );
}

function grantRoutes(app: Router, deps: StaffAccessDeps, managing: Managing): void {
  app.get(
    '/v1/access-grants',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'Grants to the operator’s staff for this tenant, newest first (`active=true`: only live ones)',
        querystring: Type.Object({ active: Type.Optional(Type.Boolean()), ...Paging }, { additionalProperties: false }),
        response: { 200: GrantPage, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listTenantGrants(deps, callerOf(request), request.query),
  );

  app.post(
    '/v1/access-grants/:id/revoke',
    {
      ...managing,
      schema: {
        ...common,
        summary: 'Revoke a grant now: it stops working on the staff member’s next request',
        description: 'A grant already revoked or expired answers 409 `grant_not_active`. The staff member is e-mailed.',
        params: IdParams,
        response: { 200: Grant, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => revokeForTenant(deps, callerOf(request), request.params.id),
  );
}

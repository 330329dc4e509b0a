import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { requireStaffAuthentication, staffOf, type Authenticator } from '../http/authenticate.js';
import { CREATE_DESCRIPTION, GrantPage, IdParams, NewRequestBody, Paging, Request, RequestPage, ReviewBody, Status } from './access-request-schemas.js';
import { approveBreakGlass, reviewBreakGlass } from './break-glass.js';
import { requestAccess } from './request-access.js';
import { getStaffRequest, listStaffGrants, listStaffRequests } from './staff-request-queries.js';
import type { StaffAccess } from './staff-access.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

const common = { tags: ['access requests'], security: [{ staffBearer: [] }] };
const VISIBILITY = 'A `support` sees their own; a `security-admin` sees every staff member’s.';

/** Staff asking for access, and security-admins approving and reviewing break-glass (admin listener). */
export function accessRequestRoutes(app: Router, staffAccess: StaffAccess, authenticate: Authenticator): void {
  askingRoutes(app, staffAccess.services, authenticate);
  breakGlassRoutes(app, staffAccess.services, authenticate);
}

/** Any staff member: ask, and see requests and grants (their own; a security-admin everyone's). */
function askingRoutes(app: Router, deps: StaffAccessDeps, authenticate: Authenticator): void {
  const staff = { onRequest: requireStaffAuthentication(authenticate) };

  app.post(
    '/admin/v1/access-requests',
    {
      ...staff,
      schema: { ...common, summary: 'Ask for time-boxed, justified access to one tenant', description: CREATE_DESCRIPTION, body: NewRequestBody, response: { 201: Request, ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request, reply) => reply.code(201).send(await requestAccess(deps, staffOf(request), request.ip, request.body)),
  );

  app.get(
    '/admin/v1/access-requests',
    {
      ...staff,
      schema: {
        ...common,
        summary: 'Access requests, newest first',
        description: VISIBILITY,
        querystring: Type.Object({ status: Type.Optional(Status), tenantId: Type.Optional(Type.String({ format: 'uuid' })), ...Paging }, { additionalProperties: false }),
        response: { 200: RequestPage, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listStaffRequests(deps, staffOf(request), request.query),
  );

  app.get(
    '/admin/v1/access-requests/:id',
    { ...staff, schema: { ...common, summary: 'One access request', description: `${VISIBILITY} Another’s answers 404.`, params: IdParams, response: { 200: Request, ...errorResponses(400, 401, 403, 404) } } },
    async (request) => getStaffRequest(deps, staffOf(request), request.params.id),
  );

  app.get(
    '/admin/v1/access-grants',
    {
      ...staff,
      schema: {
        ...common,
        summary: 'Grants, newest first (`active=true`: only live ones)',
        description: VISIBILITY,
        querystring: Type.Object({ active: Type.Optional(Type.Boolean()), tenantId: Type.Optional(Type.String({ format: 'uuid' })), ...Paging }, { additionalProperties: false }),
        response: { 200: GrantPage, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listStaffGrants(deps, staffOf(request), request.query),
  );
}

/** Security-admins only: the second person of break-glass, who activates and reviews it. */
function breakGlassRoutes(app: Router, deps: StaffAccessDeps, authenticate: Authenticator): void {
  const securityAdmin = { onRequest: requireStaffAuthentication(authenticate, { role: 'security-admin' }) };

  app.post(
    '/admin/v1/access-requests/:id/approve',
    {
      ...securityAdmin,
      schema: {
        ...common,
        summary: 'Activate a pending break-glass request (security-admin, never the requester: 403)',
        description: 'The grant starts now; the tenant’s owners and admins are e-mailed again and the requester is told. Other requests are decided by the tenant (409 `not_break_glass`).',
        params: IdParams,
        response: { 200: Request, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => approveBreakGlass(deps, staffOf(request), request.ip, request.params.id),
  );

  app.post(
    '/admin/v1/access-requests/:id/review',
    {
      ...securityAdmin,
      schema: {
        ...common,
        summary: 'Record the review of an activated break-glass access (security-admin, never the requester: 403)',
        description: 'Clears the grant’s `reviewRequired`. Once per request (409 `already_reviewed`).',
        params: IdParams,
        body: ReviewBody,
        response: { 200: Request, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => reviewBreakGlass(deps, staffOf(request), request.ip, request.params.id, request.body),
  );
}

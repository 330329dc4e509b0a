import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { requireStaffAuthentication, staffOf, type Authenticator } from '../http/authenticate.js';
import { AppError } from '../lib/app-error.js';
import { COLLECTION_NAME, ListQuery, RecordBody, RecordPage, RecordSchema, expectedVersion, sendRecordJson } from '../records/routes.js';
import { addressOf, DOWNLOAD_RESPONSE, downloadHeaders, FileParams } from '../files/routes.js';
import type { GrantCheck, StaffDataAction } from './grant-check.js';
import type { StaffDataAccess, StaffDataCaller } from './staff-data-access.js';

const TenantParams = Type.Object({ tenantId: Type.String({ format: 'uuid' }) });
const CollectionParams = Type.Object({ tenantId: Type.String({ format: 'uuid' }), collection: Type.String({ pattern: COLLECTION_NAME }) });
const RecordParams = Type.Object({
  tenantId: Type.String({ format: 'uuid' }),
  collection: Type.String({ pattern: COLLECTION_NAME }),
  id: Type.String({ format: 'uuid' }),
});
const Summaries = Type.Object({
  items: Type.Array(Type.Object({ name: Type.String(), records: Type.Integer(), bytes: Type.Integer({ description: 'stored (encrypted) bytes of its records' }) })),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
/** Collections by name, up to 1,000 a page (about 100 KiB of JSON at most). */
const SummariesQuery = Type.Object(
  { limit: Type.Integer({ minimum: 1, maximum: 1000, default: 1000 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);

const common = {
  tags: ['staff data access'],
  security: [{ staffBearer: [] }],
  description:
    'Needs an active grant of the signed-in staff member for this tenant with enough scope (`metadata` < `read` < `read-write`), ' +
    'checked on every request; otherwise 403 GRANT_REQUIRED (`details`: `tenantId`, the `scope` needed), with no customer data, ' +
    'and a `staff.grant.refused` security event. Each access is appended to the tenant’s access log first, with actor type `staff`, ' +
    'the grant id and its justification, and is a `staff.grant.used` security event.',
};

/** The staff data routes' hooks: a signed-in staff member who has acknowledged the policy, then a grant for the tenant in the path. */
type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

function underGrant(authenticate: Authenticator, grants: GrantCheck, action: StaffDataAction): { onRequest: Hook[]; preHandler?: Hook } {
  const grant = async (request: FastifyRequest): Promise<void> => {
    const { tenantId } = request.params as { tenantId: string };
    request.principal = await grants.grantedPrincipal(staffOf(request), {
      tenantId,
      action,
      method: request.method,
      route: request.routeOptions.url ?? '',
      ip: request.ip,
    });
  };
  const onRequest = [requireStaffAuthentication(authenticate), grant];
  // A change is checked again once its body has arrived: a grant revoked, expired or withdrawn
  // while a slow client was still sending the body must not let the write through.
  return action === 'records.write' ? { onRequest, preHandler: grant } : { onRequest };
}

/** The staff member and the grant the hook found for this request's tenant. */
function grantedCaller(request: FastifyRequest): StaffDataCaller {
  const principal = request.principal;
  const { tenantId } = request.params as { tenantId: string };
  if (principal?.kind !== 'staff' || principal.grant === undefined || principal.tenantId !== tenantId) throw new AppError('GRANT_REQUIRED');
  return { principal: { ...principal, tenantId: principal.tenantId, grant: principal.grant }, ip: request.ip };
}

/**
 * Data access by grant, on the admin listener: a tenant's collections (metadata), its records
 * (read) and changes to them (read-write), with the public API's semantics, schemas, ETags and
 * byte-bounded pages, through the same record use cases.
 */
export function staffDataRoutes(app: Router, access: StaffDataAccess, grants: GrantCheck, authenticate: Authenticator): void {
  const hooks = (action: StaffDataAction) => underGrant(authenticate, grants, action);

  app.get(
    '/admin/v1/tenants/:tenantId/collections',
    {
      ...hooks('records.metadata'),
      schema: {
        ...common,
        summary: 'A tenant’s collections with their record counts and stored bytes, no contents (scope metadata)',
        description: `${common.description} This is an access too: the log gets one \`list\` entry on resource \`{"type": "collections"}\`, naming the collections shown.`,
        params: TenantParams,
        querystring: SummariesQuery,
        response: { 200: Summaries, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => access.collections(grantedCaller(request), { limit: request.query.limit, cursor: request.query.cursor }),
  );

  app.get(
    '/admin/v1/tenants/:tenantId/collections/:collection/records',
    {
      ...hooks('records.read'),
      schema: {
        ...common,
        summary: 'List a tenant’s records, oldest first, a page at a time, as GET /v1/collections/{collection}/records does (scope read)',
        params: CollectionParams,
        querystring: ListQuery,
        response: { 200: RecordPage, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const page = await access.list(grantedCaller(request), request.params.collection, { limit: request.query.limit, cursor: request.query.cursor });
      // Already JSON and streamed, as on the public side.
      return reply
        .type('application/json; charset=utf-8')
        .header('content-length', page.jsonBytes)
        .send(Readable.from(page.jsonChunks) as never);
    },
  );

  recordItemRoutes(app, access, hooks);
}

function recordItemRoutes(app: Router, access: StaffDataAccess, hooks: (action: StaffDataAction) => ReturnType<typeof underGrant>): void {
  const path = '/admin/v1/tenants/:tenantId/collections/:collection/records/:id';
  app.get(
    path,
    { ...hooks('records.read'), schema: { ...common, summary: 'Read a tenant’s record (scope read)', params: RecordParams, response: { 200: RecordSchema, ...errorResponses(400, 401, 403, 404, 503) } } },
    async (request, reply) => {
      const record = await access.read(grantedCaller(request), request.params.collection, request.params.id);
      return sendRecordJson(reply, record);
    },
  );

  app.put(
    path,
    {
      ...hooks('records.write'),
      schema: {
        ...common,
        summary: 'Replace a tenant’s record’s data; send If-Match with the version you read (scope read-write)',
        params: RecordParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String()) }),
        body: RecordBody,
        response: { 200: RecordSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 503) },
      },
    },
    async (request, reply) => {
      const { collection, id } = request.params;
      const version = expectedVersion(request.headers['if-match']);
      const record = await access.update(grantedCaller(request), collection, id, request.body as Record<string, unknown>, version);
      return reply.header('etag', `"${record.version}"`).send(record);
    },
  );

  app.delete(
    path,
    { ...hooks('records.write'), schema: { ...common, summary: 'Delete a tenant’s record (scope read-write)', params: RecordParams, response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 503) } } },
    async (request, reply) => {
      await access.delete(grantedCaller(request), request.params.collection, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    `${path}/files/:name`,
    {
      ...hooks('records.read'),
      schema: {
        ...common,
        summary: 'Download a file of a tenant’s record, streamed as it authenticates, as GET /v1/collections/{collection}/records/{id}/files/{name} does (scope read)',
        params: Type.Object({ ...RecordParams.properties, name: FileParams.properties.name }),
        response: { 200: DOWNLOAD_RESPONSE, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request, reply) => {
      const file = await access.download(grantedCaller(request), addressOf(request.params));
      return reply.headers(downloadHeaders(file)).send(file.body as never);
    },
  );
}

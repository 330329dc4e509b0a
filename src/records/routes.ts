import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { NoContent, errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { AppError } from '../lib/app-error.js';
import type { RecordJson, Records } from './records.js';
import { FileSchema } from '../files/file-schema.js';

export const COLLECTION_NAME = '^[a-z][a-z0-9_]{0,62}$';

/**
 * Answers a record's JSON as Records made it (RecordJson), its version as the ETag. Already JSON
 * (the data spliced in as stored), as a list page is: sent as it is, not serialised again; the
 * route's schema still describes it, and the OpenAPI document.
 */
export function sendRecordJson(reply: FastifyReply, record: RecordJson): FastifyReply {
  return reply.type('application/json; charset=utf-8').header('etag', `"${record.version}"`).send(record.json);
}

const CollectionParams = Type.Object({ collection: Type.String({ pattern: COLLECTION_NAME }) });
const RecordParams = Type.Object({
  collection: Type.String({ pattern: COLLECTION_NAME }),
  id: Type.String({ format: 'uuid' }),
});
export const RecordBody = Type.Object({}, { additionalProperties: true, description: 'Any JSON object' });
export const RecordSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  collection: Type.String(),
  data: Type.Object({}, { additionalProperties: true }),
  version: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  files: Type.Optional(Type.Array(FileSchema, { description: 'files attached to the record (PUT …/records/{id}/files/{name}); see docs/files.md' })),
});

/** A page of records and the query that asks for one (shared with the staff data routes, which answer the same). */
export const ListQuery = Type.Object(
  { limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);
export const RecordPage = Type.Object({ items: Type.Array(RecordSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) });

/** `If-Match: 3` or `If-Match: "3"` (the ETag we send); `*` means any version. */
export function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^\s*"?(\d{1,15})"?\s*$/.exec(ifMatch);
  if (!match) {
    throw new AppError('VALIDATION_FAILED', { message: 'If-Match must be a record version.', details: { field: 'If-Match' } });
  }
  return Number(match[1]);
}

const common = { tags: ['records'], security: [{ bearer: [] }] };

/** The records API: customer data in collections, every access logged. */
export function recordRoutes(app: Router, records: Records, authenticate: Authenticator): void {
  const access = {
    reading: { onRequest: requireAuthentication(authenticate, 'records.read') },
    writing: { onRequest: requireAuthentication(authenticate, 'records.write') },
  };
  collectionRoutes(app, records, access);
  recordItemRoutes(app, records, access);
}

type Access = Record<'reading' | 'writing', { onRequest: ReturnType<typeof requireAuthentication> }>;

/** Creating a record in a collection, and listing the collection. */
function collectionRoutes(app: Router, records: Records, { reading, writing }: Access): void {
  app.post(
    '/v1/collections/:collection/records',
    {
      ...writing,
      schema: { ...common, summary: 'Create a record (the collection is created on first write)', params: CollectionParams, body: RecordBody, response: { 201: RecordSchema, ...errorResponses(400, 401, 403, 409, 413, 503) } },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const record = await records.create(caller, request.params.collection, request.body as Record<string, unknown>);
      return sendRecordJson(reply.code(201), record);
    },
  );

  app.get(
    '/v1/collections/:collection/records',
    {
      ...reading,
      schema: {
        ...common,
        summary: 'List a collection’s records, oldest first, a page at a time',
        description:
          'A page holds at most `limit` records, and ends early when its body would pass CONFIDE_LIST_MAX_BYTES (4 MiB by default; ' +
          'always at least one record). `nextCursor` continues exactly where the page stopped; it is null after the last record. ' +
          'The access log gets one `list` entry naming every id returned.',
        params: CollectionParams,
        querystring: ListQuery,
        response: { 200: RecordPage, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const page = await records.list(caller, request.params.collection, { limit: request.query.limit, cursor: request.query.cursor });
      // Already JSON (the records' data spliced in as stored), streamed a chunk at a time and not
      // serialised again; the schema above still describes it (and the OpenAPI document).
      return reply
        .type('application/json; charset=utf-8')
        .header('content-length', page.jsonBytes)
        .send(Readable.from(page.jsonChunks) as never);
    },
  );
}

/** Reading, replacing and deleting one record. */
function recordItemRoutes(app: Router, records: Records, { reading, writing }: Access): void {
  app.get(
    '/v1/collections/:collection/records/:id',
    {
      ...reading,
      schema: { ...common, summary: 'Read a record', params: RecordParams, response: { 200: RecordSchema, ...errorResponses(400, 401, 403, 404, 503) } },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const record = await records.read(caller, request.params.collection, request.params.id);
      return sendRecordJson(reply, record);
    },
  );

  app.put(
    '/v1/collections/:collection/records/:id',
    {
      ...writing,
      schema: {
        ...common,
        summary: 'Replace a record’s data; send If-Match with the version you read to avoid lost updates',
        params: RecordParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String()) }),
        body: RecordBody,
        response: { 200: RecordSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 503) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { collection, id } = request.params;
      const record = await records.update(caller, collection, id, request.body as Record<string, unknown>, expectedVersion(request.headers['if-match']));
      return reply.header('etag', `"${record.version}"`).send(record);
    },
  );

  app.delete(
    '/v1/collections/:collection/records/:id',
    { ...writing, schema: { ...common, summary: 'Delete a record', params: RecordParams, response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 503) } } },
    async (request, reply) => {
      const caller = callerOf(request);
      await records.delete(caller, request.params.collection, request.params.id);
      return reply.code(204).send(null);
    },
  );
}

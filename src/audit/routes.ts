import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { Router } from '../http/route-types.js';
import { errorResponses } from '../http/error-schema.js';
import { callerOf, requireAuthentication, type Authenticator } from '../http/authenticate.js';
import { publicKeyPem } from '../lib/ed25519.js';
import type { AccessLogQueries } from './access-log-queries.js';

const Entry = Type.Object({
  seq: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.Object({ type: Type.String(), id: Type.String() }),
  action: Type.String(),
  resource: Type.Object({ type: Type.String(), collection: Type.Optional(Type.String()), id: Type.Optional(Type.String()) }),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  grantId: Type.Optional(Type.String()),
  justification: Type.Optional(Type.String()),
  ip: Type.String(),
  prevHash: Type.String(),
  hash: Type.String(),
});

const Report = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  head: Type.String(),
  firstBadSeq: Type.Union([Type.Integer(), Type.Null()]),
  problems: Type.Array(Type.Object({ seq: Type.Integer(), kind: Type.String(), message: Type.String() })),
  checkpoint: Type.Optional(
    Type.Union([Type.Object({ seq: Type.Integer(), at: Type.String({ format: 'date-time' }), keyId: Type.String() }), Type.Null()], {
      description: 'The latest signed checkpoint the chain was held against; null when none is signed yet.',
    }),
  ),
});

const CheckpointSchema = Type.Object({
  tenantId: Type.String(),
  seq: Type.Integer(),
  hash: Type.String(),
  at: Type.String({ format: 'date-time' }),
  keyId: Type.String(),
  signature: Type.String({ description: 'Ed25519, base64url, over `confide-access-log-checkpoint-v1\n` + the RFC 8785 JSON of {tenantId, seq, hash, at, keyId}' }),
});

const PublicKeySchema = Type.Object({
  keyId: Type.String(),
  version: Type.Integer(),
  algorithm: Type.Literal('Ed25519'),
  publicKeyPem: Type.String(),
  publicKey: Type.String({ description: 'the raw 32-byte key, base64' }),
  createdAt: Type.String({ format: 'date-time' }),
  retiredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'null: it signs now; else it signed until then, and what it signed still verifies' }),
});

/** The tenant's access log and its verification (owners and admins). */
export function accessLogRoutes(app: Router, queries: AccessLogQueries, authenticate: Authenticator): void {
  const common = { tags: ['access log'], security: [{ bearer: [] }] };

  app.get(
    '/v1/access-log',
    {
      onRequest: requireAuthentication(authenticate, 'accessLog.read'),
      schema: {
        ...common,
        summary: 'Read the access log, oldest first (reading it is itself logged)',
        description:
          'A page holds at most `limit` entries, and ends early when its body would pass CONFIDE_LIST_MAX_BYTES (4 MiB by default; ' +
          'always at least one entry). `nextCursor` continues exactly where the page stopped; it is null after the last entry.',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            actorType: Type.Optional(Type.Union([Type.Literal('member'), Type.Literal('apiKey'), Type.Literal('staff')])),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Entry), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      return queries.list(caller, request.query);
    },
  );

  app.get(
    '/v1/access-log/verify',
    { onRequest: requireAuthentication(authenticate, 'accessLog.verify'), schema: { ...common, summary: 'Verify the hash chain of the access log', response: { 200: Report, ...errorResponses(401, 403, 503) } } },
    async (request) => {
      const caller = callerOf(request);
      return queries.verify(caller);
    },
  );

  signedLogRoutes(app, queries, authenticate);
}

/** Signed checkpoints, the export that carries them, and the keys that verify them (docs/keys.md). */
function signedLogRoutes(app: Router, queries: AccessLogQueries, authenticate: Authenticator): void {
  const common = { tags: ['access log'], security: [{ bearer: [] }] };
  const onRequest = requireAuthentication(authenticate, 'accessLog.read');

  app.get(
    '/v1/access-log/checkpoints',
    {
      onRequest,
      schema: {
        ...common,
        summary: 'List the signed checkpoints of the access log, oldest first (reading them is logged)',
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(CheckpointSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => queries.checkpoints(callerOf(request), request.query),
  );

  app.get(
    '/v1/access-log/export',
    {
      onRequest,
      schema: {
        ...common,
        summary: 'Download the whole access log with its signed checkpoints (NDJSON, streamed; the export is logged and signed first)',
        description:
          'One JSON object per line: a `header`, every `entry` from seq 1 with its `prevHash` and `hash`, each `checkpoint` right after the entry it signs, ' +
          'and a `trailer` with the counts. The last entry is always signed. `confide audit verify-export FILE --public-key KEY` checks it offline.',
        response: { 200: { description: 'NDJSON', content: { 'application/x-ndjson': { schema: Type.String() } } }, ...errorResponses(401, 403, 503) },
      },
    },
    async (request, reply) => {
      const lines = await queries.export(callerOf(request));
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', 'attachment; filename="access-log.ndjson"')
        .send(Readable.from(lines) as never);
    },
  );

  app.get(
    '/v1/access-log/public-keys',
    { onRequest, schema: { ...common, summary: 'The Ed25519 public keys that sign checkpoints, current and retired', response: { 200: Type.Object({ keys: Type.Array(PublicKeySchema) }), ...errorResponses(401, 403) } } },
    async () => ({
      keys: (await queries.publicKeys()).map((key) => ({
        keyId: key.keyId,
        version: key.version,
        algorithm: 'Ed25519' as const,
        publicKeyPem: publicKeyPem(key.publicKey),
        publicKey: key.publicKey.toString('base64'),
        createdAt: key.createdAt,
        retiredAt: key.retiredAt,
      })),
    }),
  );
}

/**
 * Floor+ (`FLOOR_PROMISES=all bench/floor-server.ts …`): the floor written the same minimal way
 * (Fastify, better-sqlite3, no layers, no Confide module but the TLS profile and the nonce blocks) but keeping every
 * per-request promise Confide keeps for a record create and read, so that Confide/floor+ says how
 * much of Confide/floor is those promises and how much is how Confide is built. Beyond the floor:
 * rate limits, security headers and request ids, Confide's whole session check, input validation,
 * envelopes with Confide's AAD, the access-log entry in Confide's shape with its head in a row,
 * foreign keys, metrics and the body deadline (each marked where it is done; the least code of
 * each is in bench/floor-plus-promises.ts). Left out as operations convenience only: the request
 * log (Confide logs at warn), KeySync's multi-node key check, OpenAPI.
 *
 * To price each promise: FLOOR_PLUS_WITHOUT=ratelimits,headers,session,validation,metrics,deadline
 * (any of them) leaves those out: `session` then looks the token's hash up as the floor does, with
 * none of the checks; `headers` drops the security headers and the UUIDv7 request id (Fastify's
 * counter instead). bench/README.md ("Fourth: the price of each promise") has what each cost.
 *
 * For tests: FLOOR_RATE_LIMIT_PER_IP, _PER_ACCOUNT, _PER_TENANT size the limits (default 10⁹, as
 * bench/run.ts sets Confide's: counting, never refusing); FLOOR_PLUS_WRITE_KEYS=1 writes the
 * database's key and the tenants' data keys to DIR/floor-plus-keys.json (mode 0600, at each set-up)
 * so that a test can open what floor+ stored.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { tlsOptionsFor } from '../src/http/tls-profile.js';
import { sha256 } from './floor-crypto.js';
import { JSON_UTF8 } from './floor-answer.js';
import { checkSession, Metrics, openEnvelope, RateLimits, sealEnvelope, SECURITY_HEADERS, validBody, validCollection, validId, type SessionRow } from './floor-plus-promises.js';
import { FLOOR_PLUS_SCHEMA, floorPlusStore, Refusal, TOKEN_PREFIX, type Store } from './floor-plus-store.js';

const limitOf = (name: string) => Number(process.env[`FLOOR_RATE_LIMIT_${name}`] ?? 1_000_000_000);
const LIMITS = { perIp: limitOf('PER_IP'), perAccount: limitOf('PER_ACCOUNT'), perTenant: limitOf('PER_TENANT') };
/** Confide's defaults: CONFIDE_BODY_LIMIT_BYTES, CONFIDE_REQUEST_TIMEOUT_SECONDS. */
const BODY_LIMIT_BYTES = 1_048_576;
const REQUEST_TIMEOUT_MS = 30_000;
const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]+=*)$/;
const PROMISES = ['ratelimits', 'headers', 'session', 'validation', 'metrics', 'deadline'] as const;
const WITHOUT = new Set((process.env.FLOOR_PLUS_WITHOUT ?? '').split(',').filter((name) => name !== ''));
for (const name of WITHOUT) if (!(PROMISES as readonly string[]).includes(name)) throw new Error(`FLOOR_PLUS_WITHOUT: no promise ${name} (${PROMISES.join(', ')})`);
/** Whether floor+ keeps this promise (all, unless FLOOR_PLUS_WITHOUT names it). */
const keeps = (promise: (typeof PROMISES)[number]) => !WITHOUT.has(promise);

interface Principal {
  tenantId: string;
  userId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    floorPrincipal: Principal | null;
  }
}

export interface FloorPlusOptions {
  dir: string;
  port: number;
  certFile: string;
  keyFile: string;
}

export async function serveFloorPlus(options: FloorPlusOptions): Promise<void> {
  const databaseKey = randomBytes(32);
  const db = new Database(join(options.dir, 'floor-plus.db'));
  db.pragma(`cipher='sqlcipher'`);
  db.pragma('legacy=4');
  db.pragma(`key="x'${databaseKey.toString('hex')}'"`);
  db.pragma('journal_mode=WAL');
  db.pragma('synchronous=FULL');
  db.pragma('foreign_keys=ON'); // as Confide opens its database (src/db/open-encrypted-sqlite.ts)
  db.pragma('busy_timeout=5000');
  db.exec(FLOOR_PLUS_SCHEMA);
  const store = floorPlusStore(db);
  // Tests only: the database's key and the tenants' data keys, so a test can open what floor+ stored.
  const writeKeys = () => {
    const tenants = Object.fromEntries([...store.tenantKeys].map(([tenantId, keys]) => [tenantId, keys.get(1)!.toString('hex')]));
    writeFileSync(join(options.dir, 'floor-plus-keys.json'), JSON.stringify({ database: databaseKey.toString('hex'), tenants }), { mode: 0o600 });
  };
  const app = Fastify({
    https: tlsOptionsFor('intermediate', { cert: readFileSync(options.certFile, 'utf8'), key: readFileSync(options.keyFile, 'utf8') }),
    logger: false,
    ...(keeps('headers') ? { genReqId: () => uuidv7() } : {}), // request ids: a UUIDv7 per request (src/http/build-listener.ts genReqId)
    bodyLimit: BODY_LIMIT_BYTES, // 413 beyond Confide's body limit (src/http/build-listener.ts bodyLimit)
    routerOptions: { maxParamLength: 200 },
  });
  app.removeContentTypeParser('text/plain'); // JSON bodies only (src/http/listener-plumbing.ts)
  app.decorateRequest('floorPrincipal', null);
  const metrics = new Metrics();
  // One error edge (src/http/listener-plumbing.ts): what Fastify refuses (400, 413, 415) in the same shape, counted; a failed commit is 503, as Confide's AUDIT_UNAVAILABLE.
  app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) =>
    error.statusCode !== undefined && error.statusCode < 500 ? refuse(request, reply, metrics, error.statusCode, error.code ?? 'BAD_REQUEST') : refuse(request, reply, metrics, 503, 'AUDIT_UNAVAILABLE'),
  );
  app.addHook('onRequest', everyRequest(store, metrics));
  // Metrics: each answer counted by route and status, its duration in the histogram (src/http/request-log.ts requestCompleted).
  if (keeps('metrics')) {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.requestCompleted(request.method, request.routeOptions.url ?? '(no route)', reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }
  recordRoutes(app, store, metrics, process.env.FLOOR_PLUS_WRITE_KEYS === '1' ? writeKeys : () => undefined);
  await app.listen({ host: '127.0.0.1', port: options.port });
  process.stdout.write('floor+ listening\n');
}

/** An error answer in Confide's shape (src/http/error-response.ts sendError), counted (src/metrics errorAnswered). */
function refuse(request: FastifyRequest, reply: FastifyReply, metrics: Metrics, status: number, code: string): FastifyReply {
  if (keeps('metrics')) metrics.errorAnswered(code);
  if (code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer');
  return reply.code(status).send({ error: { code, requestId: request.id } });
}

/** A record's JSON as Confide answers it (src/records/record-json.ts), its data text as it is. */
function recordJson(id: string, collection: string, dataJson: string, version: number, createdAt: string, updatedAt: string): string {
  return `{"id":${JSON.stringify(id)},"collection":${JSON.stringify(collection)},"data":${dataJson},"version":${version},"createdAt":${JSON.stringify(createdAt)},"updatedAt":${JSON.stringify(updatedAt)},"files":[]}`;
}

const STATUS: Record<string, number> = { UNAUTHENTICATED: 401, EMAIL_NOT_VERIFIED: 403, MFA_REQUIRED: 403, FORBIDDEN: 403 };

/** Every request's promises before its body is read: headers, rate limits, the body deadline, the session. */
function everyRequest(store: Store, metrics: Metrics) {
  const limits = new RateLimits();
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    // Security headers, no-store and the request id on every answer (src/http/security-headers.ts, listener-plumbing.ts onSend).
    if (keeps('headers')) {
      reply.headers(SECURITY_HEADERS);
      reply.header('x-request-id', request.id);
    }
    if (request.routeOptions.url === '/setup') return done();
    // Rate limit per client address, before authentication (src/http/rate-limits.ts onRequest).
    const byAddress = keeps('ratelimits') ? limits.count([{ key: `ip:${request.ip}`, max: LIMITS.perIp }]) : undefined;
    if (byAddress?.refused) return void tooMany(request, reply, metrics, byAddress.resetSeconds, byAddress.limit);
    if (keeps('deadline')) bodyDeadline(request);
    const match = BEARER.exec(request.headers.authorization ?? '');
    const token = match?.[1];
    let principal: Principal;
    if (keeps('session')) {
      // The session, checked as Confide's (src/identity/session-store.ts resolve, src/http/authenticate.ts).
      const row = token?.startsWith(TOKEN_PREFIX) ? (store.statements.session.get(sha256(token)) as SessionRow | undefined) : undefined;
      const now = new Date();
      const verdict = checkSession(row, now);
      if (verdict.refused) return void refuse(request, reply, metrics, STATUS[verdict.refused]!, verdict.refused);
      if (verdict.touch) store.statements.touchSession.run(now.toISOString(), row!.sessionId);
      principal = { tenantId: row!.tenantId, userId: row!.userId };
    } else {
      // The floor's session: the token's hash looked up, nothing checked.
      const found = token ? (store.statements.sessionOnly.get(sha256(token)) as Principal | undefined) : undefined;
      if (!found) return void refuse(request, reply, metrics, 401, 'UNAUTHENTICATED');
      principal = found;
    }
    request.floorPrincipal = principal;
    if (!byAddress) return done();
    // Rate limits per account and per tenant (data routes), before the body is read (src/http/rate-limits.ts preParsing).
    const own = limits.count([{ key: `user:${principal.userId}`, max: LIMITS.perAccount }, { key: `tenant:${principal.tenantId}`, max: LIMITS.perTenant }]);
    if (own.refused) return void tooMany(request, reply, metrics, own.resetSeconds, own.limit);
    const shown = own.remaining < byAddress.remaining ? own : byAddress;
    reply.header('ratelimit-limit', shown.limit).header('ratelimit-remaining', shown.remaining).header('ratelimit-reset', shown.resetSeconds);
    done();
  };
}

function tooMany(request: FastifyRequest, reply: FastifyReply, metrics: Metrics, resetSeconds: number, limit: number): void {
  reply.header('ratelimit-limit', limit).header('ratelimit-remaining', 0).header('ratelimit-reset', resetSeconds).header('retry-after', String(Math.max(1, resetSeconds)));
  refuse(request, reply, metrics, 429, 'RATE_LIMITED');
}

/** A request with a body must have arrived whole within the request timeout; the timer ends with the body (src/http/body-deadline.ts). */
function bodyDeadline(request: FastifyRequest): void {
  const socket = request.raw.socket as Socket | null;
  const { headers } = request.raw;
  const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  if (!(socket instanceof Socket) || request.raw.complete || !hasBody) return;
  const timer = setTimeout(() => {
    if (!request.raw.complete) socket.destroy();
  }, REQUEST_TIMEOUT_MS);
  timer.unref();
  const stop = () => {
    clearTimeout(timer);
    socket.off('close', stop);
  };
  request.raw.once('end', stop);
  socket.once('close', stop);
}

function recordRoutes(app: FastifyInstance<Server>, store: Store, metrics: Metrics, afterSetUp: () => void): void {
  app.post('/setup', async (_request, reply) => {
    const tenant = store.setUpTenant();
    afterSetUp();
    return reply.code(201).send(tenant);
  });

  app.post<{ Params: { collection: string } }>('/v1/collections/:collection/records', async (request, reply) => {
    const { tenantId, userId } = request.floorPrincipal!;
    const { collection } = request.params;
    // Input validation: the collection name and a JSON object body (src/records/routes.ts schemas, src/http/json-body-parser.ts).
    if (keeps('validation') && (!validCollection(collection) || !validBody(request.body))) return refuse(request, reply, metrics, 400, 'VALIDATION_FAILED');
    const data = request.body;
    const id = uuidv7();
    const now = new Date().toISOString();
    const dataJson = JSON.stringify(data);
    const dataEnc = sealEnvelope(store.tenantKeys.get(tenantId)!.get(1)!, 1, dataJson, tenantId, 'records', `${collection}/${id}`, 'data');
    try {
      await store.commit(() => {
        store.ensureCollection(tenantId, collection, now);
        store.statements.insertRecord.run(tenantId, collection, id, dataEnc, now, now);
        store.appendEntry({ tenantId, actorType: 'member', actorId: userId, action: 'create', resourceType: 'record', collection, resourceId: id, ip: request.ip });
      });
    } catch (error) {
      if (error instanceof Refusal) return refuse(request, reply, metrics, 409, error.message);
      throw error;
    }
    // The JSON text sealed is the text answered, as Confide answers (src/records/records.ts create).
    return reply.code(201).header('etag', '"1"').type(JSON_UTF8).send(recordJson(id, collection, dataJson, 1, now, now));
  });

  app.get<{ Params: { collection: string; id: string } }>('/v1/collections/:collection/records/:id', async (request, reply) => {
    const { tenantId, userId } = request.floorPrincipal!;
    const { collection, id } = request.params;
    if (keeps('validation') && (!validCollection(collection) || !validId(id))) return refuse(request, reply, metrics, 400, 'VALIDATION_FAILED');
    const row = store.statements.selectRecord.get(tenantId, collection, id) as { data_enc: string; version: number; created_at: string; updated_at: string } | undefined;
    if (!row) return refuse(request, reply, metrics, 404, 'NOT_FOUND');
    // The read is served only once its log entry is durable: fail closed, as Confide does.
    await store.commit(() => store.appendEntry({ tenantId, actorType: 'member', actorId: userId, action: 'read', resourceType: 'record', collection, resourceId: id, ip: request.ip }));
    // The data spliced in as stored, not parsed to be serialised again, as Confide answers (src/records/records.ts read).
    const dataJson = openEnvelope(store.tenantKeys.get(tenantId)!, row.data_enc, tenantId, 'records', `${collection}/${id}`, 'data');
    return reply.header('etag', `"${row.version}"`).type(JSON_UTF8).send(recordJson(id, collection, dataJson, row.version, row.created_at, row.updated_at));
  });
}

/**
 * The benchmark's floor on PostgreSQL (issue 13): bench/floor-server.ts's mandatory work, done the
 * way several nodes on one database must do it. Per request:
 *
 * - TLS as Confide serves it (the same profile);
 * - the bearer token looked up by its SHA-256 (read each time: a revocation on any node counts at once);
 * - the record sealed (create) or opened (read) with AES-256-GCM under the tenant's own data key,
 *   with the same AAD as Confide (bench/floor-crypto.ts, shared with the SQLite floor);
 * - one access-log entry per request, the client's address sealed, SHA-256 chained, in a
 *   transaction that locks the tenant's chain head row (`SELECT … FOR UPDATE`): the head lives in
 *   the database, not in the process, so writers on any number of nodes take turns on one chain;
 * - one transaction per request, committed before the answer with PostgreSQL's default durability
 *   (synchronous_commit on). PostgreSQL flushes concurrent commits together itself (group commit
 *   in its WAL writer), so the floor needs no queue of its own.
 *
 * A pg.Pool of 10 clients: the size Confide's own pool has (src/db/database.ts), so neither side
 * gets more server processes than the other. No framework beyond Fastify, no layers.
 * Usage: BENCH_DATABASE_URL=… floor-postgres-server PORT CERT KEY (the URL stays out of argv:
 * `ps` shows argv, and a given server's URL may carry a password). POST /setup gives a session token.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { tlsOptionsFor } from '../src/http/tls-profile.js';
import { chainEntry, open, seal, sha256, type FloorEntry } from './floor-crypto.js';
import { floorRecordJson, JSON_UTF8 } from './floor-answer.js';

const [port, certFile, keyFile] = process.argv.slice(2);
const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!port || !certFile || !keyFile || !databaseUrl) throw new Error('usage: BENCH_DATABASE_URL=… floor-postgres-server PORT CERT KEY');

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
await pool.query(`
  CREATE TABLE sessions (token_hash text PRIMARY KEY, tenant_id text NOT NULL, user_id text NOT NULL, expires_at text NOT NULL, revoked_at text);
  CREATE TABLE records (tenant_id text NOT NULL, collection text NOT NULL, id text NOT NULL, data_enc bytea NOT NULL, version integer NOT NULL,
    created_at text NOT NULL, PRIMARY KEY (tenant_id, collection, id));
  CREATE TABLE access_log (tenant_id text NOT NULL, seq bigint NOT NULL, at text NOT NULL, actor_id text NOT NULL, action text NOT NULL,
    collection text, resource_id text, ip_enc bytea NOT NULL, prev_hash text NOT NULL, hash text NOT NULL, PRIMARY KEY (tenant_id, seq));
  CREATE TABLE access_log_heads (tenant_id text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
`);

// Named statements: each pooled connection parses and plans them once.
const SESSION_BY_HASH = { name: 'session', text: 'SELECT tenant_id, user_id FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2' };
const INSERT_RECORD = { name: 'insert-record', text: 'INSERT INTO records (tenant_id, collection, id, data_enc, version, created_at) VALUES ($1, $2, $3, $4, 1, $5)' };
const SELECT_RECORD = { name: 'select-record', text: 'SELECT data_enc, version, created_at FROM records WHERE tenant_id = $1 AND collection = $2 AND id = $3' };
const LOCK_HEAD = { name: 'lock-head', text: 'SELECT seq, hash FROM access_log_heads WHERE tenant_id = $1 FOR UPDATE' };
// The entry and the head's move in one statement: one round trip fewer while the head is locked.
const APPEND_ENTRY = {
  name: 'append-entry',
  text: `WITH entry AS (INSERT INTO access_log (tenant_id, seq, at, actor_id, action, collection, resource_id, ip_enc, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))
         UPDATE access_log_heads SET seq = $2, hash = $10 WHERE tenant_id = $1`,
};

/** Each tenant's data key, made at set-up (Confide keeps its unwrapped keys in memory the same way). */
const tenantKeys = new Map<string, Buffer>();

/** Runs `work` in one transaction on one pooled client; resolves once the commit is durable. */
async function inTransaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Appends the entry (chained, its address sealed) in the client's transaction, the head locked until its commit. */
async function appendEntry(client: pg.PoolClient, entry: FloorEntry): Promise<void> {
  const { rows } = await client.query<{ seq: string; hash: string }>({ ...LOCK_HEAD, values: [entry.tenantId] });
  const head = rows[0]!;
  const seq = Number(head.seq) + 1;
  const at = new Date().toISOString();
  const { ipEnc, hash } = chainEntry(tenantKeys.get(entry.tenantId)!, entry, seq, at, head.hash);
  await client.query({ ...APPEND_ENTRY, values: [entry.tenantId, seq, at, entry.actorId, entry.action, entry.collection, entry.resourceId, ipEnc, head.hash, hash] });
}

async function authenticate(authorization: string | undefined): Promise<{ tenantId: string; userId: string } | null> {
  if (!authorization?.startsWith('Bearer ')) return null;
  const { rows } = await pool.query<{ tenant_id: string; user_id: string }>({ ...SESSION_BY_HASH, values: [sha256(authorization.slice(7)), new Date().toISOString()] });
  return rows[0] ? { tenantId: rows[0].tenant_id, userId: rows[0].user_id } : null;
}

const app = Fastify({ https: tlsOptionsFor('intermediate', { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }), logger: false });

app.post('/setup', async (_request, reply) => {
  const tenantId = uuidv7();
  const token = randomBytes(32).toString('base64url');
  tenantKeys.set(tenantId, randomBytes(32));
  await inTransaction(async (client) => {
    await client.query('INSERT INTO access_log_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)', [tenantId, sha256(`genesis:${tenantId}`)]);
    await client.query('INSERT INTO sessions (token_hash, tenant_id, user_id, expires_at) VALUES ($1, $2, $3, $4)', [sha256(token), tenantId, uuidv7(), new Date(Date.now() + 86_400_000).toISOString()]);
  });
  return reply.code(201).send({ token });
});

app.post<{ Params: { collection: string } }>('/v1/collections/:collection/records', async (request, reply) => {
  const principal = await authenticate(request.headers.authorization);
  if (!principal) return reply.code(401).send({ error: { code: 'UNAUTHENTICATED' } });
  const { collection } = request.params;
  const id = uuidv7();
  const createdAt = new Date().toISOString();
  const data = JSON.stringify(request.body);
  const sealed = seal(tenantKeys.get(principal.tenantId)!, Buffer.from(data), `${principal.tenantId}|records|${collection}/${id}|data`);
  await inTransaction(async (client) => {
    // The record first, the head last: the tenant's chain stays locked only for the entry and the commit.
    await client.query({ ...INSERT_RECORD, values: [principal.tenantId, collection, id, sealed, createdAt] });
    await appendEntry(client, { tenantId: principal.tenantId, actorId: principal.userId, action: 'create', collection, resourceId: id, ip: request.ip });
  });
  return reply.code(201).type(JSON_UTF8).send(floorRecordJson(id, data, 1, createdAt));
});

app.get<{ Params: { collection: string; id: string } }>('/v1/collections/:collection/records/:id', async (request, reply) => {
  const principal = await authenticate(request.headers.authorization);
  if (!principal) return reply.code(401).send({ error: { code: 'UNAUTHENTICATED' } });
  const { collection, id } = request.params;
  const { rows } = await pool.query<{ data_enc: Buffer; version: number; created_at: string }>({ ...SELECT_RECORD, values: [principal.tenantId, collection, id] });
  const row = rows[0];
  if (!row) return reply.code(404).send({ error: { code: 'NOT_FOUND' } });
  const data = open(tenantKeys.get(principal.tenantId)!, row.data_enc, `${principal.tenantId}|records|${collection}/${id}|data`).toString();
  // The read is served only once its log entry is durable: fail closed, as Confide does.
  await inTransaction((client) => appendEntry(client, { tenantId: principal.tenantId, actorId: principal.userId, action: 'read', collection, resourceId: id, ip: request.ip }));
  return reply.type(JSON_UTF8).send(floorRecordJson(id, data, row.version, row.created_at));
});

await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('floor listening\n');

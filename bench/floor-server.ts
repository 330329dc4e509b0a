/**
 * The benchmark's floor (issue 13): the least code that keeps Confide's promises for one create and
 * one read by id, so that `npm run bench` can say how much of Confide's cost is the promises
 * themselves and how much is how Confide is built. Per request it does exactly the mandatory work:
 *
 * - TLS as Confide serves it (the same profile);
 * - the bearer token looked up by its SHA-256 in SQLCipher (an in-memory cache would skip the
 *   revocation check Confide makes on every request, so it reads the row each time);
 * - the record sealed (create) or opened (read) with AES-256-GCM under the tenant's own data key,
 *   bound by its AAD to owner, collection, id and field;
 * - one access-log entry per request (the client's address sealed under the tenant's key, a
 *   SHA-256 chain over the entry and the previous hash) committed with the write, durably (WAL,
 *   synchronous=FULL), before the answer;
 * - group commit: what arrives within two turns of the event loop commits together, one fsync each
 *   (as Confide's src/db/transaction-runner.ts);
 * - the record's JSON text answered as it was sealed or opened, not parsed and serialised again
 *   (floor-answer.ts), and nonces cut from blocks of random bytes (floor-crypto.ts): Confide does
 *   both, so the floors do too, and neither ratio counts those savings as how Confide is built.
 *
 * No framework beyond Fastify, no layers, no validation beyond what answering needs.
 * Usage: floor-server DIR PORT CERT KEY; POST /setup gives a session token for one tenant.
 *
 * With FLOOR_PROMISES=all in its environment it serves floor+ instead (bench/floor-plus.ts): the
 * same minimal build keeping every other per-request promise Confide keeps (rate limits, security
 * headers, Confide's whole session check, input validation, envelopes, the log entry's full shape,
 * metrics, the body deadline), so that Confide/floor+ shows how much of Confide/floor is those.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import Fastify from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { tlsOptionsFor } from '../src/http/tls-profile.js';
import { chainEntry, open, seal, sha256, type FloorEntry } from './floor-crypto.js';
import { floorRecordJson, JSON_UTF8 } from './floor-answer.js';

const [dir, port, certFile, keyFile] = process.argv.slice(2);
if (!dir || !port || !certFile || !keyFile) throw new Error('usage: floor-server DIR PORT CERT KEY');

if (process.env.FLOOR_PROMISES === 'all') {
  const { serveFloorPlus } = await import('./floor-plus.js');
  await serveFloorPlus({ dir, port: Number(port), certFile, keyFile });
} else {
  const db = new Database(join(dir, 'floor.db'));
  db.pragma(`cipher='sqlcipher'`);
  db.pragma('legacy=4');
  db.pragma(`key="x'${randomBytes(32).toString('hex')}'"`);
  db.pragma('journal_mode=WAL');
  db.pragma('synchronous=FULL');
  db.exec(`
    CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT);
    CREATE TABLE records (tenant_id TEXT NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL, data_enc BLOB NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, collection, id));
    CREATE TABLE access_log (tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, actor_id TEXT NOT NULL, action TEXT NOT NULL,
      collection TEXT, resource_id TEXT, ip_enc BLOB NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (tenant_id, seq));
  `);
  const sessionByHash = db.prepare('SELECT tenant_id, user_id FROM sessions WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?');
  const insertRecord = db.prepare('INSERT INTO records (tenant_id, collection, id, data_enc, version, created_at) VALUES (?, ?, ?, ?, 1, ?)');
  const selectRecord = db.prepare('SELECT data_enc, version, created_at FROM records WHERE tenant_id = ? AND collection = ? AND id = ?');
  const insertEntry = db.prepare('INSERT INTO access_log (tenant_id, seq, at, actor_id, action, collection, resource_id, ip_enc, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');

  /** Each tenant's data key, made at set-up (Confide keeps its unwrapped keys in memory the same way). */
  const tenantKeys = new Map<string, Buffer>();
  /** Each tenant's chain head: the next seq and the previous hash (Confide keeps it in a row; here the process is the only writer). */
  const heads = new Map<string, { seq: number; hash: string }>();

  /** One unit of a group commit: its statements (run inside the batch's transaction), and who waits for the commit. */
  interface Unit {
    run: () => void;
    resolve: () => void;
    reject: (error: unknown) => void;
  }

  let pending: Unit[] = [];
  let scheduled = false;

  /** Appends the entry (chained, its address sealed) in the current transaction. */
  function appendEntry(entry: FloorEntry): void {
    const head = heads.get(entry.tenantId)!;
    const at = new Date().toISOString();
    const seq = head.seq;
    const { ipEnc, hash } = chainEntry(tenantKeys.get(entry.tenantId)!, entry, seq, at, head.hash);
    insertEntry.run(entry.tenantId, seq, at, entry.actorId, entry.action, entry.collection, entry.resourceId, ipEnc, head.hash, hash);
    heads.set(entry.tenantId, { seq: seq + 1, hash });
  }

  /** Runs every waiting unit in one transaction: one fsync for all; on failure each unit is told, and the heads roll back. */
  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = [];
    const saved = new Map(heads);
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const unit of batch) unit.run();
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const [tenantId, head] of saved) heads.set(tenantId, head);
      for (const unit of batch) unit.reject(error);
      return;
    }
    for (const unit of batch) unit.resolve();
  }

  /** Queues `run` for the next group commit and resolves once it is durable. */
  function commit(run: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      pending.push({ run, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => setImmediate(flush)); // what arrives in this turn of the event loop and the next commits together (as Confide's GroupCommit)
      }
    });
  }

  function authenticate(authorization: string | undefined): { tenantId: string; userId: string } | null {
    if (!authorization?.startsWith('Bearer ')) return null;
    const row = sessionByHash.get(sha256(authorization.slice(7)), new Date().toISOString()) as { tenant_id: string; user_id: string } | undefined;
    return row ? { tenantId: row.tenant_id, userId: row.user_id } : null;
  }

  const app = Fastify({ https: tlsOptionsFor('intermediate', { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }), logger: false });

  app.post('/setup', async (_request, reply) => {
    const tenantId = uuidv7();
    const token = randomBytes(32).toString('base64url');
    tenantKeys.set(tenantId, randomBytes(32));
    heads.set(tenantId, { seq: 1, hash: sha256(`genesis:${tenantId}`) });
    db.prepare('INSERT INTO sessions (token_hash, tenant_id, user_id, expires_at) VALUES (?, ?, ?, ?)').run(sha256(token), tenantId, uuidv7(), new Date(Date.now() + 86_400_000).toISOString());
    return reply.code(201).send({ token });
  });

  app.post<{ Params: { collection: string } }>('/v1/collections/:collection/records', async (request, reply) => {
    const principal = authenticate(request.headers.authorization);
    if (!principal) return reply.code(401).send({ error: { code: 'UNAUTHENTICATED' } });
    const { collection } = request.params;
    const id = uuidv7();
    const createdAt = new Date().toISOString();
    const data = JSON.stringify(request.body);
    const sealed = seal(tenantKeys.get(principal.tenantId)!, Buffer.from(data), `${principal.tenantId}|records|${collection}/${id}|data`);
    await commit(() => {
      insertRecord.run(principal.tenantId, collection, id, sealed, createdAt);
      appendEntry({ tenantId: principal.tenantId, actorId: principal.userId, action: 'create', collection, resourceId: id, ip: request.ip });
    });
    return reply.code(201).type(JSON_UTF8).send(floorRecordJson(id, data, 1, createdAt));
  });

  app.get<{ Params: { collection: string; id: string } }>('/v1/collections/:collection/records/:id', async (request, reply) => {
    const principal = authenticate(request.headers.authorization);
    if (!principal) return reply.code(401).send({ error: { code: 'UNAUTHENTICATED' } });
    const { collection, id } = request.params;
    const row = selectRecord.get(principal.tenantId, collection, id) as { data_enc: Buffer; version: number; created_at: string } | undefined;
    if (!row) return reply.code(404).send({ error: { code: 'NOT_FOUND' } });
    const data = open(tenantKeys.get(principal.tenantId)!, row.data_enc, `${principal.tenantId}|records|${collection}/${id}|data`).toString();
    // The read is served only once its log entry is durable: fail closed, as Confide does.
    await commit(() => appendEntry({ tenantId: principal.tenantId, actorId: principal.userId, action: 'read', collection, resourceId: id, ip: request.ip }));
    return reply.type(JSON_UTF8).send(floorRecordJson(id, data, row.version, row.created_at));
  });

  await app.listen({ host: '127.0.0.1', port: Number(port) });
  process.stdout.write('floor listening\n');
}

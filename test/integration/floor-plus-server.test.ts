import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, writeCertificate } from '../../bench/bench-process.js';
import { rowToEntry } from '../../src/audit/access-log-rows.js';
import { entryHash, genesisHash } from '../../src/audit/hash-chain.js';
import { createCipher } from '../../src/keys/cipher.js';
import { parseEnvelope } from '../../src/keys/envelope-format.js';
import { securityHeaders } from '../../src/http/security-headers.js';
import { freePort } from '../harness/free-port.js';

/*
 * Floor+ (FLOOR_PROMISES=all bench/floor-server.ts, issue 13) is the floor keeping every per-request
 * promise Confide keeps; Confide/floor+ means something only if it really keeps them. So, over
 * HTTPS against the process: the headers of Confide's answers, a session that stops working the
 * moment its row says so, 400 for what the schemas refuse, envelopes and a log entry that Confide's
 * own cipher and hash chain accept, and a 429 once the tenant's limit (set low here) is spent.
 */
const TENANT_LIMIT = 20;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function call(port: number, method: string, path: string, options: { token?: string; body?: string; type?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) Object.assign(headers, { 'content-type': options.type ?? 'application/json', 'content-length': Buffer.byteLength(options.body) });
    const req = request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('floor+ (the floor with every per-request promise)', () => {
  let root: string;
  let floor: ChildProcess;
  let port: number;
  let db: Database.Database;

  interface Tenant {
    token: string;
    tenantId: string;
    userId: string;
  }
  const setUp = async (): Promise<Tenant> => (await call(port, 'POST', '/setup')).body as Tenant;
  const create = (tenant: Tenant, data: unknown, collection = 'notes') => call(port, 'POST', `/v1/collections/${collection}/records`, { token: tenant.token, body: JSON.stringify(data) });
  const read = (tenant: Tenant, id: string, collection = 'notes') => call(port, 'GET', `/v1/collections/${collection}/records/${id}`, { token: tenant.token });
  const keys = () => JSON.parse(readFileSync(join(root, 'floor-plus-keys.json'), 'utf8')) as { database: string; tenants: Record<string, string> };
  const entries = (tenantId: string) => db.prepare('SELECT * FROM access_log WHERE tenant_id = ? ORDER BY seq').all(tenantId) as any[];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-floor-plus-'));
    const tls = await writeCertificate(root);
    port = await freePort();
    const env = { FLOOR_PROMISES: 'all', FLOOR_PLUS_WRITE_KEYS: '1', FLOOR_RATE_LIMIT_PER_TENANT: String(TENANT_LIMIT) };
    floor = await startProcess(['--import', 'tsx', 'bench/floor-server.ts', root, String(port), tls.certFile, tls.keyFile], env, 'floor+ listening');
    await setUp(); // the key file exists from the first set-up on
    db = new Database(join(root, 'floor-plus.db'));
    db.pragma(`cipher='sqlcipher'`);
    db.pragma('legacy=4');
    db.pragma(`key="x'${keys().database}'"`);
    db.pragma('busy_timeout=5000');
  });

  afterAll(async () => {
    db?.close();
    if (floor && floor.exitCode === null && floor.signalCode === null) {
      const exited = new Promise((resolve) => floor.once('exit', resolve));
      floor.kill('SIGKILL');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('creates and reads a record, answering with Confide’s headers', async () => {
    const tenant = await setUp();
    const created = await create(tenant, { note: 'hello' });
    expect(created.status).toBe(201);
    const answer = await read(tenant, created.body.id);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: created.body.id, collection: 'notes', data: { note: 'hello' }, version: 1, files: [] });
    // Confide's own headers, as its listeners compute them: floor+ must send each, as Confide does.
    const confideHeaders = Object.fromEntries(Object.entries(securityHeaders()).map(([name, value]) => [name.toLowerCase(), value]));
    expect(Object.keys(confideHeaders).length).toBeGreaterThanOrEqual(12);
    expect(answer.headers).toMatchObject({
      ...confideHeaders,
      'cache-control': 'no-store',
      etag: '"1"',
      'ratelimit-limit': String(TENANT_LIMIT),
      'ratelimit-remaining': String(TENANT_LIMIT - 2),
    });
    const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(answer.headers['x-request-id']).toMatch(uuidV7);
    expect(created.headers['x-request-id']).toMatch(uuidV7);
    expect(answer.headers['x-request-id']).not.toBe(created.headers['x-request-id']);
  });

  it('stores envelopes and a chained entry that Confide’s own cipher and hash chain accept', async () => {
    const tenant = await setUp();
    const id = (await create(tenant, { note: 'plain-text-that-must-not-be-stored' })).body.id as string;
    expect((await read(tenant, id)).status).toBe(200);
    const cipher = createCipher(tenant.tenantId, new Map([[1, Buffer.from(keys().tenants[tenant.tenantId]!, 'hex')]]));
    const { data_enc: dataEnc } = db.prepare('SELECT data_enc FROM records WHERE tenant_id = ? AND id = ?').get(tenant.tenantId, id) as { data_enc: string };
    expect(parseEnvelope(dataEnc)).toMatchObject({ algorithm: 'A256GCM', keyVersion: 1 });
    expect(dataEnc).not.toContain('plain-text');
    expect(JSON.parse(cipher.decrypt(dataEnc, { table: 'records', rowId: `notes/${id}`, field: 'data' }))).toEqual({ note: 'plain-text-that-must-not-be-stored' });
    // Bound to its place: under another id it does not open.
    expect(() => cipher.decrypt(dataEnc, { table: 'records', rowId: `notes/${tenant.userId}`, field: 'data' })).toThrow();

    const rows = entries(tenant.tenantId);
    expect(rows.map((row) => [row.seq, row.action, row.actor_type, row.actor_id, row.resource_type, row.resource_collection, row.resource_id])).toEqual([
      [1, 'create', 'member', tenant.userId, 'record', 'notes', id],
      [2, 'read', 'member', tenant.userId, 'record', 'notes', id],
    ]);
    let previous = genesisHash(tenant.tenantId);
    for (const row of rows) {
      expect(parseEnvelope(row.ip_enc as string)).toMatchObject({ algorithm: 'A256GCM', keyVersion: 1 });
      const entry = rowToEntry(row, cipher); // opens the address with Confide's AAD
      expect(entry).toMatchObject({ ip: '127.0.0.1', prevHash: previous });
      const { hash, ...unhashed } = entry;
      expect(hash).toBe(entryHash(tenant.tenantId, unhashed));
      previous = hash;
    }
    expect(db.prepare('SELECT seq, hash FROM access_log_heads WHERE tenant_id = ?').get(tenant.tenantId)).toEqual({ seq: 2, hash: previous });
  });

  it('refuses a session the moment its row, its user or its tenant’s settings say so', async () => {
    const expectRefused = async (tenant: Tenant, id: string, status: number, code: string) => {
      const answer = await read(tenant, id);
      expect([answer.status, answer.body?.error?.code]).toEqual([status, code]);
    };
    const [revoked, disabled, unverified, mfa, idle] = [await setUp(), await setUp(), await setUp(), await setUp(), await setUp()];
    const ids = new Map<Tenant, string>();
    for (const tenant of [revoked, disabled, unverified, mfa, idle]) ids.set(tenant, (await create(tenant, { n: 1 })).body.id as string);
    const now = new Date().toISOString();
    db.prepare('UPDATE sessions SET revoked_at = ? WHERE user_id = ?').run(now, revoked.userId);
    db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(now, disabled.userId);
    db.prepare('UPDATE users SET email_verified_at = NULL WHERE id = ?').run(unverified.userId);
    db.prepare(`INSERT INTO tenant_settings (tenant_id, require_mfa, updated_at) VALUES (?, 1, ?)`).run(mfa.tenantId, now);
    db.prepare(`INSERT INTO tenant_settings (tenant_id, require_mfa, session_idle_seconds, updated_at) VALUES (?, 0, 60, ?)`).run(idle.tenantId, now);
    db.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').run(new Date(Date.now() - 61_000).toISOString(), idle.userId);
    await expectRefused(revoked, ids.get(revoked)!, 401, 'UNAUTHENTICATED');
    await expectRefused(disabled, ids.get(disabled)!, 401, 'UNAUTHENTICATED');
    await expectRefused(unverified, ids.get(unverified)!, 403, 'EMAIL_NOT_VERIFIED');
    await expectRefused(mfa, ids.get(mfa)!, 403, 'MFA_REQUIRED');
    await expectRefused(idle, ids.get(idle)!, 401, 'UNAUTHENTICATED'); // the tenant's 60 s idle timeout, not the server's hour
    // A confirmed factor satisfies the tenant's MFA rule at once.
    db.prepare(`INSERT INTO totp_factors (user_id, secret_enc, confirmed_at, created_at) VALUES (?, 'x', ?, ?)`).run(mfa.userId, now, now);
    expect((await read(mfa, ids.get(mfa)!)).status).toBe(200);
    // Nothing refused reached the log: one create entry each, one read for the MFA user.
    expect([revoked, disabled, unverified, idle].map((tenant) => entries(tenant.tenantId).length)).toEqual([1, 1, 1, 1]);
    expect(entries(mfa.tenantId)).toHaveLength(2);
  });

  it('writes last-seen only when it is older than 30 seconds', async () => {
    const tenant = await setUp();
    const lastSeen = () => (db.prepare('SELECT last_seen_at FROM sessions WHERE user_id = ?').get(tenant.userId) as { last_seen_at: string }).last_seen_at;
    const recent = new Date(Date.now() - 10_000).toISOString();
    db.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').run(recent, tenant.userId);
    expect((await create(tenant, { n: 1 })).status).toBe(201);
    expect(lastSeen()).toBe(recent);
    const stale = new Date(Date.now() - 40_000).toISOString();
    db.prepare('UPDATE sessions SET last_seen_at = ? WHERE user_id = ?').run(stale, tenant.userId);
    expect((await create(tenant, { n: 2 })).status).toBe(201);
    expect(new Date(lastSeen()).getTime()).toBeGreaterThan(Date.now() - 5_000);
  });

  it('answers 400 to what Confide’s schemas refuse (415, 413 to other bodies), and logs none of it', async () => {
    const tenant = await setUp();
    const id = (await create(tenant, { n: 1 })).body.id as string;
    const statusOf = async (answer: Promise<Answer>) => (await answer).status;
    expect(await statusOf(read(tenant, id, 'Notes'))).toBe(400);
    expect(await statusOf(read(tenant, 'not-a-uuid'))).toBe(400);
    expect(await statusOf(create(tenant, { n: 1 }, '1notes'))).toBe(400);
    expect(await statusOf(create(tenant, [1, 2]))).toBe(400);
    expect(await statusOf(create(tenant, 'text'))).toBe(400);
    const deep = JSON.parse(`${'{"a":'.repeat(70)}1${'}'.repeat(70)}`) as unknown;
    expect(await statusOf(create(tenant, deep))).toBe(400);
    expect(await statusOf(call(port, 'POST', '/v1/collections/notes/records', { token: tenant.token, body: 'hello', type: 'text/plain' }))).toBe(415);
    expect(await statusOf(create(tenant, { note: 'x'.repeat(1_048_576) }))).toBe(413);
    expect(entries(tenant.tenantId)).toHaveLength(1);
  });

  it('counts every request against its tenant and answers 429 past the limit', async () => {
    const tenant = await setUp();
    const id = (await create(tenant, { n: 1 })).body.id as string;
    // The create was the tenant's first request: the read that is its request TENANT_LIMIT + 1 is refused.
    let answer = await read(tenant, id);
    let reads = 1;
    while (answer.status === 200 && reads < TENANT_LIMIT + 5) {
      reads += 1;
      answer = await read(tenant, id);
    }
    expect(reads).toBe(TENANT_LIMIT);
    expect(answer.status).toBe(429);
    expect(answer.body.error.code).toBe('RATE_LIMITED');
    expect(answer.headers).toMatchObject({ 'ratelimit-limit': String(TENANT_LIMIT), 'ratelimit-remaining': '0', 'x-content-type-options': 'nosniff' });
    expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    // Another tenant's budget is its own.
    const other = await setUp();
    expect((await create(other, { n: 1 })).status).toBe(201);
  });
});

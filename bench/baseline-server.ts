/**
 * The benchmark's baseline: a minimal Fastify HTTPS server with the same TLS settings and the
 * same durability as Confide (SQLite, WAL, synchronous=FULL), storing and fetching the same JSON
 * bodies, but with no authentication, no encryption and no access log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import Fastify from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { tlsOptionsFor } from '../src/http/tls-profile.js';

const [dir, port, certFile, keyFile] = process.argv.slice(2);
if (!dir || !port || !certFile || !keyFile) throw new Error('usage: baseline-server DIR PORT CERT KEY');

const db = new Database(join(dir, 'baseline.db'));
db.pragma('journal_mode=WAL');
db.pragma('synchronous=FULL');
db.exec('CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO records (id, data, version, created_at) VALUES (?, ?, 1, ?)');
const select = db.prepare('SELECT id, data, version, created_at FROM records WHERE id = ?');

const app = Fastify({ https: tlsOptionsFor('intermediate', { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }), logger: false });
app.post('/records', async (request, reply) => {
  const id = uuidv7();
  const createdAt = new Date().toISOString();
  insert.run(id, JSON.stringify(request.body), createdAt);
  return reply.code(201).send({ id, data: request.body, version: 1, createdAt });
});
app.get<{ Params: { id: string } }>('/records/:id', async (request, reply) => {
  const row = select.get(request.params.id) as { id: string; data: string; version: number; created_at: string } | undefined;
  if (!row) return reply.code(404).send({ error: 'not found' });
  return { id: row.id, data: JSON.parse(row.data) as unknown, version: row.version, createdAt: row.created_at };
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('baseline listening\n');

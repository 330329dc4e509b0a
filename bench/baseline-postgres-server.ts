/**
 * The benchmark's baseline on PostgreSQL: bench/baseline-server.ts with `pg` in place of SQLite.
 * A minimal Fastify HTTPS server with Confide's TLS settings that stores and fetches the same JSON
 * bodies, each create one autocommitted INSERT with PostgreSQL's default durability
 * (synchronous_commit on: durable before the answer), but with no authentication, no encryption
 * and no access log. A pg.Pool of 10 clients, the size of Confide's own.
 * Usage: BENCH_DATABASE_URL=… baseline-postgres-server PORT CERT KEY (the URL stays out of argv).
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { tlsOptionsFor } from '../src/http/tls-profile.js';

const [port, certFile, keyFile] = process.argv.slice(2);
const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!port || !certFile || !keyFile || !databaseUrl) throw new Error('usage: BENCH_DATABASE_URL=… baseline-postgres-server PORT CERT KEY');

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
await pool.query('CREATE TABLE records (id text PRIMARY KEY, data text NOT NULL, version integer NOT NULL, created_at text NOT NULL)');
const INSERT = { name: 'insert', text: 'INSERT INTO records (id, data, version, created_at) VALUES ($1, $2, 1, $3)' };
const SELECT = { name: 'select', text: 'SELECT id, data, version, created_at FROM records WHERE id = $1' };

const app = Fastify({ https: tlsOptionsFor('intermediate', { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }), logger: false });
app.post('/records', async (request, reply) => {
  const id = uuidv7();
  const createdAt = new Date().toISOString();
  await pool.query({ ...INSERT, values: [id, JSON.stringify(request.body), createdAt] });
  return reply.code(201).send({ id, data: request.body, version: 1, createdAt });
});
app.get<{ Params: { id: string } }>('/records/:id', async (request, reply) => {
  const { rows } = await pool.query<{ id: string; data: string; version: number; created_at: string }>({ ...SELECT, values: [request.params.id] });
  const row = rows[0];
  if (!row) return reply.code(404).send({ error: 'not found' });
  return { id: row.id, data: JSON.parse(row.data) as unknown, version: row.version, createdAt: row.created_at };
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('baseline listening\n');

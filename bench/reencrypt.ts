/**
 * npm run bench -- --reencrypt [--dialects sqlite,postgres --values 100000 --duration 5 --connections 10 --json]
 *
 * Key rotation's two figures (issue 11), on each store named by `--dialects` (both by default):
 * 1. Re-encryption throughput: a tenant with `--values` records (inserted in bulk through its real
 *    cipher), rotated, and its job run in this process (no pause between batches) — values per
 *    second from the rotation to the destruction of the old version. Target: ≥ 20,000 values/s.
 * 2. Serving while it runs: a real `confide serve` (default batch and pause), reads by id driven
 *    with autocannon before the rotation and while its job runs, as a ratio. Target: ≥ 0.8.
 * PostgreSQL: CONFIDE_BENCH_DATABASE_URL's server, or a throwaway cluster (bench/bench-postgres.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/load-config.js';
import { openServices } from '../src/app/open-services.js';
import type { Services } from '../src/app/services.js';
import { rotateKey } from '../src/key-rotation/rotate-key.js';
import { ReencryptionJob } from '../src/key-rotation/reencryption-job.js';
import { runningJobs } from '../src/key-rotation/rotation-jobs.js';
import { newId } from '../src/lib/ids.js';
import { insertRecords } from '../test/harness/bulk-records.js';
import { httpsJson, verifyEmailThroughOutbox } from '../test/harness/server-process.js';
import { freePort } from '../test/harness/free-port.js';
import type { BenchPostgres } from './bench-postgres.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ReencryptOptions {
  values: number;
  duration: number;
  connections: number;
  say: (line: string) => void;
  /** Where to run: embedded SQLCipher SQLite, and PostgreSQL when given a server. */
  dialects: Array<'sqlite' | 'postgres'>;
  postgres?: BenchPostgres;
}

/** One store's environment for Confide (PostgreSQL: a fresh schema), and its clean-up. */
interface StoreEnv {
  env: Record<string, string>;
  drop(): Promise<void>;
}

async function storeEnv(dialect: 'sqlite' | 'postgres', options: ReencryptOptions): Promise<StoreEnv> {
  if (dialect === 'sqlite') return { env: {}, drop: async () => undefined };
  if (!options.postgres) throw new Error('no PostgreSQL server for the bench');
  const schema = await options.postgres.freshSchema();
  return { env: { CONFIDE_DATABASE_URL: schema.url }, drop: () => schema.drop() };
}

function envFor(root: string, extra: Record<string, string> = {}): Record<string, string> {
  return { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'warn', ...extra };
}

/** A tenant with `values` records, written straight into the database through its real cipher. */
async function bulkTenant(services: Services, values: number, tenantId = newId()): Promise<string> {
  const { db, keyRing, transactions, clock } = services;
  const now = clock.now().toISOString();
  const exists = await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
  if (!exists) {
    await transactions.run(async (trx) => {
      const cipher = await keyRing.createOwnerKey(trx, tenantId);
      await trx.insertInto('tenants').values({ id: tenantId, name_enc: cipher.encrypt('Bench', { table: 'tenants', rowId: tenantId, field: 'name' }), created_at: now }).execute();
    });
  }
  await db.insertInto('collections').values({ tenant_id: tenantId, name: 'bulk', created_at: now }).onConflict((oc) => oc.doNothing()).execute();
  await insertRecords(db, keyRing, tenantId, 'bulk', values, now);
  // A real database has planner statistics (autovacuum analyses a table after a tenth of it changes);
  // one bulk-loaded a moment ago has none, and PostgreSQL then reads each batch of the walk by
  // sorting all the tenant's remaining rows, which measures the missing statistics, not the walk.
  if (services.dialect.name === 'postgres') await sql`analyze`.execute(db);
  return tenantId;
}

async function throughput(options: ReencryptOptions, store: StoreEnv): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'confide-bench-reencrypt-'));
  try {
    const { services, database } = await openServices(loadConfig(envFor(root, store.env), root), { createIfMissing: true });
    try {
      const tenantId = await bulkTenant(services, options.values);
      const started = performance.now();
      await rotateKey(services, tenantId, { actor: { type: 'system', id: 'bench' }, requestedBy: 'bench' });
      const job = new ReencryptionJob(services, { batch: 500, pauseMs: 0, graceMs: 0, keepGoing: async () => true });
      const [running] = await runningJobs(services.db);
      const outcome = await job.run(running!);
      const seconds = (performance.now() - started) / 1000;
      if (outcome !== 'done') throw new Error(`the job ended ${outcome}`);
      return Math.round(options.values / seconds);
    } finally {
      await database.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function startServer(env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['dist/cli/main.js', 'serve'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Confide is listening')) resolve(child);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`confide serve exited ${code}: ${output}`)));
  });
}

async function reads(port: number, token: string, ids: string[], options: ReencryptOptions): Promise<number> {
  let next = 0;
  const result = await autocannon({
    url: `https://127.0.0.1:${port}`,
    connections: options.connections,
    duration: options.duration,
    requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/v1/collections/bulk/records/${ids[next++ % ids.length]}`, headers: { authorization: `Bearer ${token}` } }) }],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`reads: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function serving(options: ReencryptOptions, store: StoreEnv): Promise<{ before: number; during: number; ratio: number; jobRunning: boolean }> {
  const root = mkdtempSync(join(tmpdir(), 'confide-bench-serving-'));
  const port = await freePort();
  const env = envFor(root, { ...store.env, CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${port}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`, CONFIDE_RATE_LIMITS: 'off' });
  const server = await startServer(env);
  try {
    const password = `load-test-${randomBytes(8).toString('hex')}`;
    const signup = await httpsJson(port, 'POST', '/v1/signup', { organization: 'Bench', email: 'bench@example.test', password });
    if (signup.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(signup.body)}`);
    await verifyEmailThroughOutbox(port, env, 'bench@example.test');
    const { token } = (await httpsJson(port, 'POST', '/v1/sessions', { email: 'bench@example.test', password })).body as { token: string };
    const ids: string[] = [];
    for (let i = 0; i < 200; i += 1) ids.push((await httpsJson(port, 'POST', '/v1/collections/bulk/records', { i }, token)).body.id);
    // Enough values that the job outlasts the measurement (written beside the running server, as the CLI would).
    const { services, database } = await openServices(loadConfig(env, root));
    await bulkTenant(services, options.values * 3, signup.body.tenant.id);
    await database.close();
    // Unmeasured: the first seconds of a fresh process (JIT, caches, PostgreSQL's buffers) are slower,
    // and would otherwise count against "before" alone and flatter the ratio.
    await reads(port, token, ids, { ...options, duration: 2 });
    const before = await reads(port, token, ids, options);
    const rotated = await httpsJson(port, 'POST', '/v1/tenant/keys/rotate', undefined, token);
    if (rotated.status !== 202) throw new Error(`rotate: ${JSON.stringify(rotated.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the worker's next poll picks the job up
    const during = await reads(port, token, ids, options);
    const status = (await httpsJson(port, 'GET', '/v1/tenant/keys', undefined, token)).body;
    options.say(`job at ${status.rotation.valuesDone}/${status.rotation.valuesTotal} after the measurement`);
    return { before: Math.round(before), during: Math.round(during), ratio: during / before, jobRunning: status.rotation.state === 'running' };
  } finally {
    server.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

/** Both figures on one store, each on a database of its own. */
async function benchOn(dialect: 'sqlite' | 'postgres', options: ReencryptOptions) {
  options.say(`${dialect}: re-encryption throughput, ${options.values} values, one process…`);
  let store = await storeEnv(dialect, options);
  let valuesPerSecond: number;
  try {
    valuesPerSecond = await throughput(options, store);
  } finally {
    await store.drop();
  }
  options.say(`  ${valuesPerSecond} values/s (target ≥ 20000)`);
  options.say(`${dialect}: reads while re-encryption runs (confide serve, default batch and pause)…`);
  store = await storeEnv(dialect, options);
  try {
    const reading = await serving(options, store);
    options.say(`  reads/s before ${reading.before}, during ${reading.during}: ratio ${reading.ratio.toFixed(2)} (target ≥ 0.80)${reading.jobRunning ? '' : ' — the job ended before the measurement did'}`);
    return { valuesPerSecond, reads: reading };
  } finally {
    await store.drop();
  }
}

export async function reencryptBench(options: ReencryptOptions): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = {};
  for (const dialect of options.dialects) figures[dialect] = await benchOn(dialect, options);
  return { reencrypt: figures };
}

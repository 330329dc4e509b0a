/**
 * The servers of `npm run bench -- --postgres`, each its own process, each on a schema of its own
 * on one PostgreSQL server (bench/bench-postgres.ts), with one certificate and TLS profile:
 *
 * - Confide on one node (`confide serve`, built);
 * - Confide on two nodes: two `confide serve` processes on one schema, as a multi-node deployment
 *   runs them (docs/deployment.md, "Several nodes"): the same master key and tenant key directory,
 *   each its own data directory and ports;
 * - the floor (bench/floor-postgres-server.ts) and the baseline (bench/baseline-postgres-server.ts).
 *
 * Both Confides run with a tenant key directory (what several nodes need), warn-level logs, and
 * rate limiters that count every request but never refuse, as in the SQLite bench.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/harness/free-port.js';
import { httpsJson } from '../test/harness/server-process.js';
import type { BenchPostgres } from './bench-postgres.js';
import { signUpAndIn, startProcess, writeCertificate } from './bench-process.js';
import { recordsApi, seedRecord, type Target } from './drive.js';

/** Each side's bench tenants (one Target each; the baseline has none, so one). */
export interface PostgresTargets {
  confide: Target[];
  /** The two nodes of one service: the same tenants, tokens and records, reached through either. */
  twoNodes: [Target[], Target[]];
  floor: Target[];
  baseline: Target[];
}

/** What the run started, to stop and remove at its end. */
export interface Started {
  children: ChildProcess[];
  schemas: Array<{ drop(): Promise<void> }>;
}

/** One Confide deployment's settings: its schema, master key and tenant key directory, shared by its nodes. */
function deployment(root: string, name: string, databaseUrl: string, tls: { certFile: string; keyFile: string }) {
  const tenantKeyDir = join(root, `${name}-tenant-keys`);
  mkdirSync(tenantKeyDir, { mode: 0o700 });
  const shared = {
    CONFIDE_DATABASE_URL: databaseUrl,
    CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
    CONFIDE_TENANT_KEY_DIR: tenantKeyDir,
    CONFIDE_TLS_CERT_FILE: tls.certFile,
    CONFIDE_TLS_KEY_FILE: tls.keyFile,
    CONFIDE_LOG_LEVEL: 'warn',
    // The rate limiters run (every request counted, per node: no Redis) but never refuse.
    CONFIDE_RATE_LIMIT_PER_IP: '1000000000',
    CONFIDE_RATE_LIMIT_PER_ACCOUNT: '1000000000',
    CONFIDE_RATE_LIMIT_PER_TENANT: '1000000000',
    CONFIDE_SIGNUPS_PER_IP_PER_HOUR: '1000000', // every bench tenant signs up from 127.0.0.1
  };
  /** One node: its own data directory and ports (never the default admin 9443: a developer's own Confide may hold it). */
  return async (node: number) => {
    const port = await freePort();
    const env = { ...shared, CONFIDE_DATA_DIR: join(root, `${name}-node-${node}`), CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${port}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` };
    return { port, env };
  };
}

async function startConfide(node: { env: Record<string, string> }, started: Started): Promise<void> {
  started.children.push(await startProcess(['dist/cli/main.js', 'serve'], node.env, 'Confide is listening'));
}

async function startBenchServer(file: string, databaseUrl: string, tls: { certFile: string; keyFile: string }, ready: string, started: Started): Promise<number> {
  const port = await freePort();
  started.children.push(await startProcess(['--import', 'tsx', file, String(port), tls.certFile, tls.keyFile], { BENCH_DATABASE_URL: databaseUrl }, ready));
  return port;
}

/** Starts every server, signs `count` bench tenants in on each side, and seeds 200 records on each side to read. */
export async function startPostgresServers(root: string, postgres: BenchPostgres, count: number, started: Started): Promise<PostgresTargets> {
  const tls = await writeCertificate(root);
  const schema = async () => {
    const fresh = await postgres.freshSchema();
    started.schemas.push(fresh);
    return fresh.url;
  };
  const oneNode = await deployment(root, 'confide-one', await schema(), tls)(1);
  const twoNodeDeployment = deployment(root, 'confide-two', await schema(), tls);
  const [nodeA, nodeB] = [await twoNodeDeployment(1), await twoNodeDeployment(2)];
  await startConfide(oneNode, started);
  // One after the other: the first node migrates the empty schema, the second finds it migrated.
  await startConfide(nodeA, started);
  await startConfide(nodeB, started);
  const floorPort = await startBenchServer('bench/floor-postgres-server.ts', await schema(), tls, 'floor listening', started);
  const baselinePort = await startBenchServer('bench/baseline-postgres-server.ts', await schema(), tls, 'baseline listening', started);

  const confide: Target[] = [];
  const twoNodes: [Target[], Target[]] = [[], []];
  const floor: Target[] = [];
  for (let i = 0; i < count; i += 1) {
    confide.push(recordsApi(oneNode.port, (await signUpAndIn(oneNode.port, oneNode.env, `bench-${i}@example.test`)).token));
    const { token } = await signUpAndIn(nodeA.port, nodeA.env, `bench-${i}@example.test`);
    // Through either node, one tenant: one token, and one list of ids, half of it created through each.
    const [a, b] = [recordsApi(nodeA.port, token), recordsApi(nodeB.port, token)];
    b.ids = a.ids;
    twoNodes[0].push(a);
    twoNodes[1].push(b);
    floor.push(recordsApi(floorPort, (await httpsJson(floorPort, 'POST', '/setup', {})).body.token as string));
  }
  const baseline: Target = { url: `https://127.0.0.1:${baselinePort}`, createPath: '/records', readPath: (id) => `/records/${id}`, headers: { 'content-type': 'application/json' }, ids: [] };
  // 200 records on each side to read, spread over its tenants (and over both nodes, for each tenant).
  for (let i = 0; i < 200; i += 1) {
    const node = twoNodes[Math.floor(i / count) % 2]!;
    for (const target of [confide[i % count]!, node[i % count]!, floor[i % count]!, baseline]) await seedRecord(target);
  }
  return { confide, twoNodes, floor, baseline: [baseline] };
}

/**
 * npm run bench [-- --runs 3 --duration 5 --connections 10,32,64 --json --skip-build]
 * (`--postgres`: the same on PostgreSQL, bench/postgres-bench.ts; `--reencrypt`: bench/reencrypt.ts;
 * `--skip-build`: measure the dist/ already built instead of building it first.)
 *
 * Starts, as separate processes: Confide (built, embedded SQLite, default settings but warn-level
 * logs, rate limits counting but never refusing), the same Confide with rate limits off, the floor
 * (bench/floor-server.ts: only the mandatory work of each promise), floor+ (the same file with
 * FLOOR_PROMISES=all, bench/floor-plus.ts: the floor keeping every other per-request promise
 * Confide keeps) and the baseline (bench/baseline-server.ts: no authentication, encryption or
 * log). Then drives each over keep-alive HTTPS with autocannon at each connection count: creating
 * 1 KiB JSON records, then reading them by id. The order of the servers rotates by run, and each
 * figure is the median over the runs, so all meet the same noise. Prints req/s, p50 and p99 of
 * each, Confide/floor, Confide/floor+, floor+/floor and Confide/baseline; `--json` prints one
 * object with every figure as its last line.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type autocannon from 'autocannon';
import { generateSelfSignedCertificate } from '../src/http/certificate.js';
import { httpsJson } from '../test/harness/server-process.js';
import { freePort } from '../test/harness/free-port.js';
import { ROOT, signUpAndIn, startProcess } from './bench-process.js';
import { BODY, drive as driveFor, medianFigures, ratio, recordsApi, type Figures, type Target } from './drive.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10,32,64' },
    json: { type: 'boolean', default: false },
    // Key rotation's figures instead (bench/reencrypt.ts): re-encryption values/s, and reads while it runs.
    reencrypt: { type: 'boolean', default: false },
    values: { type: 'string', default: '100000' },
    // --reencrypt only: the stores to measure (PostgreSQL: CONFIDE_BENCH_DATABASE_URL, or a throwaway cluster).
    dialects: { type: 'string', default: 'sqlite,postgres' },
    // The same comparison on PostgreSQL instead (bench/postgres-bench.ts), Confide on one node and on two.
    postgres: { type: 'boolean', default: false },
    // --postgres only: bench tenants per server, requests spread over them round-robin (each tenant's log is one chain).
    tenants: { type: 'string', default: '1' },
    // Measure the dist/ already built (someone's measurement build) rather than building it first.
    'skip-build': { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const DURATION = Number(args.duration);
/** `--connections 10,32,64`: each count is measured in turn (the re-encryption bench uses the first). */
const CONNECTIONS = args.connections.split(',').map(Number);
if (CONNECTIONS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--connections: whole numbers separated by commas, not ${args.connections}`);
const say = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

const drive = (url: string, requests: autocannon.Request[], connections: number) => driveFor(url, requests, connections, DURATION);

/** The servers driven: Confide (rate limits counting), Confide with them off, the floor, floor+ and the baseline. */
type Side = 'confide' | 'unlimited' | 'floor' | 'floorPlus' | 'baseline';
const SIDES: readonly Side[] = ['confide', 'unlimited', 'floor', 'floorPlus', 'baseline'];

async function startServers(root: string, children: ChildProcess[]): Promise<Record<Side, Target>> {
  const credentials = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']);
  writeFileSync(join(root, 'cert.pem'), credentials.cert);
  writeFileSync(join(root, 'key.pem'), credentials.key, { mode: 0o600 });
  const [confidePort, adminPort, unlimitedPort, unlimitedAdminPort, floorPort, floorPlusPort, baselinePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const confideEnv = {
    CONFIDE_DATA_DIR: join(root, 'confide-data'),
    CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
    CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${confidePort}`,
    CONFIDE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`, // never the default 9443: a developer's own Confide may hold it
    CONFIDE_TLS_CERT_FILE: join(root, 'cert.pem'),
    CONFIDE_TLS_KEY_FILE: join(root, 'key.pem'),
    CONFIDE_LOG_LEVEL: 'warn',
    // The rate limiters run (every request counted) but never refuse: what they cost, not what they stop.
    CONFIDE_RATE_LIMIT_PER_IP: '1000000000',
    CONFIDE_RATE_LIMIT_PER_ACCOUNT: '1000000000',
    CONFIDE_RATE_LIMIT_PER_TENANT: '1000000000',
  };
  // The same Confide with the general rate limits off (CONFIDE_RATE_LIMITS=off), on its own data: the limiter's cost is the ratio of the two.
  const unlimitedEnv = { ...confideEnv, CONFIDE_DATA_DIR: join(root, 'confide-unlimited-data'), CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${unlimitedPort}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${unlimitedAdminPort}`, CONFIDE_RATE_LIMITS: 'off' };
  const tlsArgs = [join(root, 'cert.pem'), join(root, 'key.pem')];
  children.push(await startProcess(['dist/cli/main.js', 'serve'], confideEnv, 'Confide is listening'));
  children.push(await startProcess(['dist/cli/main.js', 'serve'], unlimitedEnv, 'Confide is listening'));
  children.push(await startProcess(['--import', 'tsx', 'bench/floor-server.ts', root, String(floorPort), ...tlsArgs], {}, 'floor listening'));
  // Floor+: its limits as Confide's above, counting but never refusing (its defaults).
  children.push(await startProcess(['--import', 'tsx', 'bench/floor-server.ts', root, String(floorPlusPort), ...tlsArgs], { FLOOR_PROMISES: 'all' }, 'floor+ listening'));
  children.push(await startProcess(['--import', 'tsx', 'bench/baseline-server.ts', root, String(baselinePort), ...tlsArgs], {}, 'baseline listening'));
  const targets: Record<Side, Target> = {
    confide: recordsApi(confidePort, (await signUpAndIn(confidePort, confideEnv)).token),
    unlimited: recordsApi(unlimitedPort, (await signUpAndIn(unlimitedPort, unlimitedEnv)).token),
    floor: recordsApi(floorPort, (await httpsJson(floorPort, 'POST', '/setup', {})).body.token as string),
    floorPlus: recordsApi(floorPlusPort, (await httpsJson(floorPlusPort, 'POST', '/setup', {})).body.token as string),
    baseline: { url: `https://127.0.0.1:${baselinePort}`, createPath: '/records', readPath: (id) => `/records/${id}`, headers: { 'content-type': 'application/json' }, ids: [] },
  };
  // Records to read back, the same number on each side.
  for (let i = 0; i < 200; i += 1) {
    for (const side of SIDES) {
      const target = targets[side];
      const token = target.headers.authorization?.slice('Bearer '.length);
      target.ids.push((await httpsJson(Number(new URL(target.url).port), 'POST', target.createPath, JSON.parse(BODY), token)).body.id as string);
    }
  }
  return targets;
}

type Samples = Record<'create' | 'read', Record<Side, Figures[]>>;

/** RUNS rounds at one connection count; every side gets the same phases, in an order that rotates by run. */
async function measureAt(connections: number, targets: Record<Side, Target>): Promise<Samples> {
  const none = () => Object.fromEntries(SIDES.map((side) => [side, []])) as unknown as Record<Side, Figures[]>;
  const samples: Samples = { create: none(), read: none() };
  const create = (side: Side) => async () => {
    const target = targets[side];
    samples.create[side].push(await drive(target.url, [{ method: 'POST', path: target.createPath, headers: target.headers, body: BODY }], connections));
  };
  const read = (side: Side) => async () => {
    const target = targets[side];
    let next = 0;
    const { authorization } = target.headers;
    const request: autocannon.Request = { method: 'GET', headers: authorization ? { authorization } : {}, setupRequest: (r) => ({ ...r, path: target.readPath(target.ids[next++ % target.ids.length]!) }) };
    samples.read[side].push(await drive(target.url, [request], connections));
  };
  for (let run = 1; run <= RUNS; run += 1) {
    say(`${connections} connections: run ${run}/${RUNS}…`);
    // Which server goes first rotates by run, so none always meets the machine's mood of one slot.
    const order = SIDES.map((_, i) => SIDES[(i + run) % SIDES.length]!);
    for (const side of order) await create(side)();
    for (const side of order) await read(side)();
  }
  return samples;
}

interface PhaseSummary {
  confide: Figures;
  floor: Figures;
  floorPlus: Figures;
  baseline: Figures;
  rateLimitsOff: Figures;
  /** Confide/floor, Confide/floor+, floor+/floor and Confide/baseline in req/s, and rate limits on/off. */
  ratioFloor: number;
  ratioFloorPlus: number;
  ratioFloorPlusFloor: number;
  ratioBaseline: number;
  ratioRateLimits: number;
}

function summarise(samples: Samples, connections: number): Record<'create' | 'read', PhaseSummary> {
  const out = {} as Record<'create' | 'read', PhaseSummary>;
  say(`\n${connections} connections, ${DURATION} s per phase, median of ${RUNS} runs, 1 KiB JSON bodies, keep-alive HTTPS`);
  say('phase    server                 req/s     p50 ms   p99 ms');
  for (const phase of ['create', 'read'] as const) {
    const figure = (side: Side): Figures => medianFigures(samples[phase][side]);
    const [confide, floor, floorPlus, baseline, rateLimitsOff] = [figure('confide'), figure('floor'), figure('floorPlus'), figure('baseline'), figure('unlimited')];
    out[phase] = {
      confide, floor, floorPlus, baseline, rateLimitsOff,
      ratioFloor: ratio(confide, floor), ratioFloorPlus: ratio(confide, floorPlus), ratioFloorPlusFloor: ratio(floorPlus, floor),
      ratioBaseline: ratio(confide, baseline), ratioRateLimits: ratio(confide, rateLimitsOff),
    };
    for (const [name, f] of [['confide', confide], ['confide, no rate limits', rateLimitsOff], ['floor', floor], ['floor+', floorPlus], ['baseline', baseline]] as const) {
      say(`${phase.padEnd(8)} ${name.padEnd(22)} ${String(f.rps).padStart(8)} ${String(f.p50).padStart(9)} ${String(f.p99).padStart(8)}`);
    }
    say(`${phase.padEnd(8)} ratios: confide/floor ${out[phase].ratioFloor} (target ≥ 0.9), confide/floor+ ${out[phase].ratioFloorPlus}, floor+/floor ${out[phase].ratioFloorPlusFloor}, confide/baseline ${out[phase].ratioBaseline}, rate limits on/off ${out[phase].ratioRateLimits} (target ≥ 0.95)`);
  }
  return out;
}

/** Builds Confide into dist/ (unless `--skip-build`: then the build already there is measured). */
function buildConfide(): void {
  if (args['skip-build']) return say('measuring the dist/ already built (--skip-build)');
  say('building Confide…');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
}

async function main(): Promise<void> {
  buildConfide();
  const root = mkdtempSync(join(tmpdir(), 'confide-bench-'));
  const children: ChildProcess[] = [];
  try {
    const targets = await startServers(root, children);
    const results: Record<string, Record<'create' | 'read', PhaseSummary>> = {};
    for (const connections of CONNECTIONS) results[connections] = summarise(await measureAt(connections, targets), connections);
    if (args.json) process.stdout.write(`${JSON.stringify({ runs: RUNS, durationSeconds: DURATION, connections: results })}\n`);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * `--reencrypt`: build, then bench/reencrypt.ts's two figures on each of `--dialects` (its `--json`
 * line: `{"reencrypt": {"sqlite": {"valuesPerSecond", "reads": {"before","during","ratio","jobRunning"}}, "postgres": {…}}}`).
 */
async function reencryptMain(): Promise<void> {
  const dialects = args.dialects.split(',').map((d) => d.trim());
  if (dialects.some((d) => d !== 'sqlite' && d !== 'postgres')) throw new Error(`--dialects: sqlite and/or postgres, not ${args.dialects}`);
  buildConfide();
  const { reencryptBench } = await import('./reencrypt.js');
  const { startBenchPostgres } = await import('./bench-postgres.js');
  const postgres = dialects.includes('postgres') ? await startBenchPostgres(process.env.CONFIDE_BENCH_DATABASE_URL) : undefined;
  try {
    const figures = await reencryptBench({ values: Number(args.values), duration: DURATION, connections: CONNECTIONS[0]!, say, dialects: dialects as Array<'sqlite' | 'postgres'>, postgres });
    if (args.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    postgres?.stop();
  }
}

/**
 * `--postgres [--tenants 1]`: build, then bench/postgres-bench.ts on CONFIDE_BENCH_DATABASE_URL's server or a
 * throwaway cluster; `--json` prints `{"runs", "durationSeconds", "tenants", "postgres": {"connections": {"10":
 * {"create": {"confide", "confideTwoNodes", "floor", "baseline", "ratioFloor", "ratioBaseline", "ratioTwoNodes"}, "read": {…}}}}}`.
 */
async function postgresMain(): Promise<void> {
  buildConfide();
  const { postgresBench } = await import('./postgres-bench.js');
  const { startBenchPostgres } = await import('./bench-postgres.js');
  const tenants = Number(args.tenants);
  if (!Number.isInteger(tenants) || tenants < 1) throw new Error(`--tenants: a whole number, not ${args.tenants}`);
  const postgres = await startBenchPostgres(process.env.CONFIDE_BENCH_DATABASE_URL);
  try {
    const figures = await postgresBench({ runs: RUNS, duration: DURATION, connections: CONNECTIONS, tenants, say, postgres });
    if (args.json) process.stdout.write(`${JSON.stringify({ runs: RUNS, durationSeconds: DURATION, tenants, ...figures })}\n`);
  } finally {
    postgres.stop();
  }
}

(args.reencrypt ? reencryptMain() : args.postgres ? postgresMain() : main()).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

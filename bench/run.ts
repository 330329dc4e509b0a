/**
 * npm run bench [-- --runs 3 --duration 5 --connections 10 --json]
 *
 * Starts Confide (built, embedded SQLite, default settings but warn-level logs) and the baseline
 * server (bench/baseline-server.ts) as separate processes, then drives both with autocannon over
 * keep-alive HTTPS: creating 1 KiB JSON records, then reading them by id. Phases alternate between
 * the two servers, and each figure is the median over the runs, so both meet the same noise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { generateSelfSignedCertificate } from '../src/http/certificate.js';
import { httpsJson, verifyEmailThroughOutbox } from '../test/harness/server-process.js';
import { freePort } from '../test/harness/free-port.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    // Key rotation's figures instead (bench/reencrypt.ts): re-encryption values/s, and reads while it runs.
    reencrypt: { type: 'boolean', default: false },
    values: { type: 'string', default: '100000' },
    // --reencrypt only: the stores to measure (PostgreSQL: CONFIDE_BENCH_DATABASE_URL, or a throwaway cluster).
    dialects: { type: 'string', default: 'sqlite,postgres' },
  },
});
const RUNS = Number(args.runs);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const say = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

// A 1 KiB JSON body.
const BODY = JSON.stringify({ name: 'Bench Record', note: 'x'.repeat(1024 - 40) });


function startProcess(command: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${output}`)));
  });
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

async function drive(url: string, requests: autocannon.Request[]): Promise<Figures> {
  let sample = '';
  const observed = requests.map((request) => ({
    ...request,
    onResponse: (status: number, body: string) => {
      if (status >= 300 && !sample) sample = `${status} ${body.slice(0, 200)}`;
    },
  }));
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, requests: observed, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors (first: ${sample})`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Signs up the bench tenant on one Confide, verifies its address through the outbox and signs in. */
async function signUpAndIn(port: number, env: Record<string, string>): Promise<{ token: string }> {
  const password = `load-test-${randomBytes(8).toString('hex')}`;
  const signup = await httpsJson(port, 'POST', '/v1/signup', { organization: 'Bench', email: 'bench@example.test', password });
  if (signup.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(signup.body)}`);
  await verifyEmailThroughOutbox(port, env, 'bench@example.test');
  return (await httpsJson(port, 'POST', '/v1/sessions', { email: 'bench@example.test', password })).body;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  say('building Confide…');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);

  const root = mkdtempSync(join(tmpdir(), 'confide-bench-'));
  const credentials = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']);
  writeFileSync(join(root, 'cert.pem'), credentials.cert);
  writeFileSync(join(root, 'key.pem'), credentials.key, { mode: 0o600 });
  const confidePort = await freePort();
  const baselinePort = await freePort();
  const adminPort = await freePort(); // never the default 9443: a developer's own Confide may hold it
  const unlimitedPort = await freePort();
  const unlimitedAdminPort = await freePort();
  const children: ChildProcess[] = [];
  try {
    const confideEnv = {
      CONFIDE_DATA_DIR: join(root, 'confide-data'),
      CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
      CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${confidePort}`,
      CONFIDE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      CONFIDE_TLS_CERT_FILE: join(root, 'cert.pem'),
      CONFIDE_TLS_KEY_FILE: join(root, 'key.pem'),
      CONFIDE_LOG_LEVEL: 'warn',
      // The rate limiters run (every request counted) but never refuse: what they cost, not what they stop.
      CONFIDE_RATE_LIMIT_PER_IP: '1000000000',
      CONFIDE_RATE_LIMIT_PER_ACCOUNT: '1000000000',
      CONFIDE_RATE_LIMIT_PER_TENANT: '1000000000',
    };
    // The same Confide with the general rate limits off (CONFIDE_RATE_LIMITS=off), on its own data: the limiter's cost is the ratio of the two.
    const unlimitedEnv = {
      ...confideEnv,
      CONFIDE_DATA_DIR: join(root, 'confide-unlimited-data'),
      CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${unlimitedPort}`,
      CONFIDE_ADMIN_LISTEN: `127.0.0.1:${unlimitedAdminPort}`,
      CONFIDE_RATE_LIMITS: 'off',
    };
    children.push(
      await startProcess(['dist/cli/main.js', 'serve'], confideEnv, 'Confide is listening'),
    );
    children.push(await startProcess(['dist/cli/main.js', 'serve'], unlimitedEnv, 'Confide is listening'));
    children.push(await startProcess(['--import', 'tsx', 'bench/baseline-server.ts', root, String(baselinePort), join(root, 'cert.pem'), join(root, 'key.pem')], {}, 'baseline listening'));

    const session = await signUpAndIn(confidePort, confideEnv);
    const unlimitedSession = await signUpAndIn(unlimitedPort, unlimitedEnv);
    const auth = { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' };
    const json = { 'content-type': 'application/json' };

    // Records to read back, the same number on each side.
    const ids = { confide: [] as string[], baseline: [] as string[], unlimited: [] as string[] };
    for (let i = 0; i < 200; i += 1) {
      ids.confide.push((await httpsJson(confidePort, 'POST', '/v1/collections/bench/records', JSON.parse(BODY), session.token)).body.id);
      ids.unlimited.push((await httpsJson(unlimitedPort, 'POST', '/v1/collections/bench/records', JSON.parse(BODY), unlimitedSession.token)).body.id);
      ids.baseline.push((await httpsJson(baselinePort, 'POST', '/records', JSON.parse(BODY))).body.id);
    }
    const readRequests = (paths: string[], headers: Record<string, string>): autocannon.Request[] => {
      let next = 0;
      return [{ method: 'GET', headers, setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }) }];
    };

    const samples: Record<'create' | 'read', Record<'confide' | 'baseline', Figures[]>> = {
      create: { confide: [], baseline: [] },
      read: { confide: [], baseline: [] },
    };
    const unlimitedAuth = { ...auth, authorization: `Bearer ${unlimitedSession.token}` };
    const unlimited: Record<'create' | 'read', Figures[]> = { create: [], read: [] };
    // The two Confides get the same work in the same order (their databases grow alike), and which
    // of them goes first alternates by run, so neither always meets the machine's mood of one slot.
    const confideCreate = async () => samples.create.confide.push(await drive(`https://127.0.0.1:${confidePort}`, [{ method: 'POST', path: '/v1/collections/bench/records', headers: auth, body: BODY }]));
    const unlimitedCreate = async () => unlimited.create.push(await drive(`https://127.0.0.1:${unlimitedPort}`, [{ method: 'POST', path: '/v1/collections/bench/records', headers: unlimitedAuth, body: BODY }]));
    const confideRead = async () => samples.read.confide.push(await drive(`https://127.0.0.1:${confidePort}`, readRequests(ids.confide.map((id) => `/v1/collections/bench/records/${id}`), { authorization: auth.authorization })));
    const unlimitedRead = async () => unlimited.read.push(await drive(`https://127.0.0.1:${unlimitedPort}`, readRequests(ids.unlimited.map((id) => `/v1/collections/bench/records/${id}`), { authorization: unlimitedAuth.authorization })));
    for (let run = 1; run <= RUNS; run += 1) {
      say(`run ${run}/${RUNS}…`);
      const inTurn = run % 2 === 1 ? <T>(a: T, b: T) => [a, b] : <T>(a: T, b: T) => [b, a];
      for (const phase of inTurn(confideCreate, unlimitedCreate)) await phase();
      samples.create.baseline.push(await drive(`https://127.0.0.1:${baselinePort}`, [{ method: 'POST', path: '/records', headers: json, body: BODY }]));
      for (const phase of inTurn(confideRead, unlimitedRead)) await phase();
      samples.read.baseline.push(await drive(`https://127.0.0.1:${baselinePort}`, readRequests(ids.baseline.map((id) => `/records/${id}`), {})));
    }

    const summary: Record<string, { confide: number; baseline: number; ratio: number; confideP50: number; confideP99: number; baselineP50: number; baselineP99: number }> = {};
    say(`\n${CONNECTIONS} connections, ${DURATION} s per phase, median of ${RUNS} runs, 1 KiB JSON bodies, keep-alive HTTPS`);
    say('phase    server     req/s     p50 ms   p99 ms');
    for (const phase of ['create', 'read'] as const) {
      const figure = (side: 'confide' | 'baseline') => ({
        rps: median(samples[phase][side].map((s) => s.rps)),
        p50: median(samples[phase][side].map((s) => s.p50)),
        p99: median(samples[phase][side].map((s) => s.p99)),
      });
      const confide = figure('confide');
      const baseline = figure('baseline');
      const ratio = Number((confide.rps / baseline.rps).toFixed(3));
      summary[phase] = { confide: Math.round(confide.rps), baseline: Math.round(baseline.rps), ratio, confideP50: confide.p50, confideP99: confide.p99, baselineP50: baseline.p50, baselineP99: baseline.p99 };
      say(`${phase.padEnd(8)} confide  ${confide.rps.toFixed(0).padStart(8)} ${String(confide.p50).padStart(9)} ${String(confide.p99).padStart(8)}`);
      say(`${phase.padEnd(8)} baseline ${baseline.rps.toFixed(0).padStart(8)} ${String(baseline.p50).padStart(9)} ${String(baseline.p99).padStart(8)}`);
      say(`${phase.padEnd(8)} ratio confide/baseline (req/s): ${ratio}`);
    }
    // What the rate limiters cost: each phase with them on (counting, never refusing) against the same Confide with them off.
    const rateLimits: Record<string, { on: number; off: number; ratio: number }> = {};
    for (const phase of ['create', 'read'] as const) {
      const off = { rps: median(unlimited[phase].map((s) => s.rps)), p50: median(unlimited[phase].map((s) => s.p50)), p99: median(unlimited[phase].map((s) => s.p99)) };
      const ratio = Number((summary[phase]!.confide / off.rps).toFixed(3));
      rateLimits[phase] = { on: summary[phase]!.confide, off: Math.round(off.rps), ratio };
      say(`${phase.padEnd(8)} confide, rate limits off ${off.rps.toFixed(0).padStart(8)} ${String(off.p50).padStart(9)} ${String(off.p99).padStart(8)}`);
      say(`${phase.padEnd(8)} ratio rate limits on/off (req/s): ${ratio} (limiter cost ${((1 - ratio) * 100).toFixed(1)}%; target under 5%)`);
    }
    const output = { ...summary, rateLimits };
    if (args.json) process.stdout.write(`${JSON.stringify(output)}\n`);
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
  say('building Confide…');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const { reencryptBench } = await import('./reencrypt.js');
  const { startBenchPostgres } = await import('./bench-postgres.js');
  const postgres = dialects.includes('postgres') ? await startBenchPostgres(process.env.CONFIDE_BENCH_DATABASE_URL) : undefined;
  try {
    const figures = await reencryptBench({ values: Number(args.values), duration: DURATION, connections: CONNECTIONS, say, dialects: dialects as Array<'sqlite' | 'postgres'>, postgres });
    if (args.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    postgres?.stop();
  }
}

(args.reencrypt ? reencryptMain() : main()).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

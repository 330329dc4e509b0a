/**
 * npm run bench:scale -- --data-dir D [--runs 3 --duration 5 --connections 32 --sample 200 --startups 3 --skip-build --json]
 *
 * On a deployment seeded by bench/seed.ts (D: 10,000 tenants and 1,000,000 records, say) and, in
 * the same run, on a small one it seeds itself (as many tenants as the sample, 60 records each, so
 * both sides spread the load over the same number of tenants and return the same pages), with the
 * built `confide serve` on each:
 * - reads by id, creates and lists (a page of 20) for random tenants of a sample of `--sample`
 *   signed-in owners, at `--connections`, `--runs` rounds with the order of the two alternating;
 *   medians and large/small (issue 13's target: ≥ 0.85);
 * - start-up time to 'Confide is listening' (median of `--startups`), RSS under the read load and
 *   while serving the largest list page (200 records of the big tenant), the access-log export of
 *   the big tenant (entries/s, MB/s), and `confide audit verify` on the whole deployment (entries/s).
 * `--json` prints one object with every figure as its last line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportThroughput, residentDuring, startupSeconds, verifyThroughput } from './scale-figures.js';
import { drivePhase, PHASES, type Phase } from './scale-load.js';
import { drive, medianFigures, ratio, type Figures } from './drive.js';
import { sampleTenants, signIn, startScaleServer, stopScaleServer, type ScaleServer, type SignedInTenant } from './scale-server.js';
import { databaseBytes, readManifest, seedDatabase } from './seed.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    sample: { type: 'string', default: '200' },
    startups: { type: 'string', default: '3' },
    'skip-build': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const SAMPLE = Number(args.sample);
const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

type Size = 'large' | 'small';
interface Side {
  root: string;
  server: ScaleServer;
  tenants: SignedInTenant[];
}

async function openSide(root: string): Promise<Side> {
  const server = await startScaleServer(root);
  const tenants = await signIn(server, root, sampleTenants(readManifest(root).tenants, SAMPLE));
  return { root, server, tenants };
}

/** RUNS rounds of every phase on both sides (the first side alternates), the large server's RSS sampled throughout its reads. */
async function measure(sides: Record<Size, Side>): Promise<{ samples: Record<Phase, Record<Size, Figures[]>>; readRssPeak: number }> {
  const samples = Object.fromEntries(PHASES.map((phase) => [phase, { large: [], small: [] }])) as unknown as Record<Phase, Record<Size, Figures[]>>;
  let readRssPeak = 0;
  // Unmeasured: a fresh process's first seconds (JIT, caches) would count against whichever side came first.
  for (const size of ['large', 'small'] as const) await drivePhase(sides[size].server.port, 'read', sides[size].tenants, CONNECTIONS, 2);
  for (let run = 1; run <= RUNS; run += 1) {
    say(`run ${run}/${RUNS}…`);
    const order: Size[] = run % 2 === 1 ? ['large', 'small'] : ['small', 'large'];
    for (const phase of PHASES) {
      for (const size of order) {
        const { server, tenants } = sides[size];
        if (size === 'large' && phase === 'read') {
          const watched = await residentDuring(server.child.pid!, () => drivePhase(server.port, phase, tenants, CONNECTIONS, DURATION));
          readRssPeak = Math.max(readRssPeak, watched.peakBytes);
          samples[phase][size].push(watched.result);
        } else {
          samples[phase][size].push(await drivePhase(server.port, phase, tenants, CONNECTIONS, DURATION));
        }
      }
    }
  }
  return { samples, readRssPeak };
}

/** The big tenant (the seed's first): its largest list page driven at CONNECTIONS with the RSS watched, then its whole export. */
async function bigTenantFigures(side: Side) {
  const [big] = await signIn(side.server, side.root, [readManifest(side.root).tenants[0]!]);
  const path = `/v1/collections/${big!.ids[0]![0]}/records?limit=200`;
  const headers = { authorization: `Bearer ${big!.token}` };
  const largestPage = await residentDuring(side.server.child.pid!, () => drive(`https://127.0.0.1:${side.server.port}`, [{ method: 'GET', path, headers }], CONNECTIONS, DURATION));
  const exported = await exportThroughput(side.server.port, big!.token);
  return { largestPage, exported, bigTenantRecords: big!.records };
}

function summarise(samples: Record<Phase, Record<Size, Figures[]>>) {
  const out: Record<string, { large: Figures; small: Figures; ratio: number }> = {};
  say(`\n${CONNECTIONS} connections, ${DURATION} s per phase, median of ${RUNS} runs, ${SAMPLE} random tenants per side`);
  say('phase    database   req/s     p50 ms   p99 ms');
  for (const phase of PHASES) {
    const figure = (size: Size): Figures => medianFigures(samples[phase][size]);
    const [large, small] = [figure('large'), figure('small')];
    out[phase] = { large, small, ratio: ratio(large, small) };
    for (const [name, f] of [['large', large], ['small', small]] as const) say(`${phase.padEnd(8)} ${name.padEnd(8)} ${String(f.rps).padStart(8)} ${String(f.p50).padStart(9)} ${String(f.p99).padStart(8)}`);
    say(`${phase.padEnd(8)} large/small ${out[phase].ratio} (target ≥ 0.85)`);
  }
  return out;
}

async function main(): Promise<void> {
  if (!args['data-dir']) throw new Error('--data-dir: a deployment seeded by bench/seed.ts');
  const largeRoot = resolve(args['data-dir']);
  if (!args['skip-build']) {
    say('building Confide…');
    const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  }
  const smallRoot = join(mkdtempSync(join(tmpdir(), 'confide-bench-small-')), 'deployment');
  try {
    say(`seeding the small deployment (${SAMPLE} tenants × 60 records)…`);
    await seedDatabase({ root: smallRoot, tenants: SAMPLE, records: SAMPLE * 60, bigTenantRecords: 60, say: () => undefined });
    say(`start-up time, ${args.startups} starts of each…`);
    const startup = { large: await startupSeconds(largeRoot, Number(args.startups)), small: await startupSeconds(smallRoot, Number(args.startups)) };
    const sides = { large: await openSide(largeRoot), small: await openSide(smallRoot) } satisfies Record<Size, Side>;
    let measured;
    let big;
    try {
      measured = await measure(sides);
      say('the big tenant: its largest list page, then its export…');
      big = await bigTenantFigures(sides.large);
    } finally {
      await Promise.all([stopScaleServer(sides.large.server), stopScaleServer(sides.small.server)]);
    }
    // Printed before the verification, which takes the longest: what was measured is not lost if it fails.
    const scale = {
      runs: RUNS, durationSeconds: DURATION, connections: CONNECTIONS, sample: SAMPLE,
      phases: summarise(measured.samples),
      databaseMiB: { large: mib(databaseBytes(join(largeRoot, 'data'))), small: mib(databaseBytes(join(smallRoot, 'data'))) },
      startupSeconds: startup,
      rssMiB: { readLoadPeak: mib(measured.readRssPeak), largestListPage: { before: mib(big.largestPage.beforeBytes), peak: mib(big.largestPage.peakBytes), rps: Math.round(big.largestPage.result.rps) } },
      export: { ...big.exported, bigTenantRecords: big.bigTenantRecords },
    };
    report(scale);
    say('confide audit verify on the whole large deployment, one process, then one per CPU…');
    const verify = await verifyThroughput(largeRoot, '1');
    say(`confide audit verify --jobs 1: ${verify.entries} entries of ${verify.tenants} tenants in ${verify.seconds} s (process start to exit), ${verify.entriesPerSecond} entries/s on one core (target ≥ 200000)`);
    const verifyEveryCpu = await verifyThroughput(largeRoot, 'auto');
    say(`confide audit verify --jobs auto (${availableParallelism()} CPUs): ${verifyEveryCpu.seconds} s, ${verifyEveryCpu.entriesPerSecond} entries/s, ${(verifyEveryCpu.entriesPerSecond / verify.entriesPerSecond).toFixed(2)}× one process`);
    if (args.json) process.stdout.write(`${JSON.stringify({ scale: { ...scale, verify, verifyEveryCpu } })}\n`);
  } finally {
    rmSync(join(smallRoot, '..'), { recursive: true, force: true });
  }
}

function report(f: { databaseMiB: Record<Size, number>; startupSeconds: Record<Size, { median: number; each: number[] }>; rssMiB: { readLoadPeak: number; largestListPage: { before: number; peak: number; rps: number } }; export: { entries: number; entriesPerSecond: number; megabytesPerSecond: number; seconds: number } }): void {
  say(`database on disk: large ${f.databaseMiB.large} MiB, small ${f.databaseMiB.small} MiB`);
  say(`start-up to 'Confide is listening': large ${f.startupSeconds.large.median} s (${f.startupSeconds.large.each.join(', ')}), small ${f.startupSeconds.small.median} s`);
  say(`RSS: peak ${f.rssMiB.readLoadPeak} MiB under the read load; ${f.rssMiB.largestListPage.before} → peak ${f.rssMiB.largestListPage.peak} MiB serving the largest list page (200 records) at ${CONNECTIONS} connections, ${f.rssMiB.largestListPage.rps} pages/s`);
  say(`export of the big tenant: ${f.export.entries} entries in ${f.export.seconds} s, ${f.export.entriesPerSecond} entries/s, ${f.export.megabytesPerSecond} MB/s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

/**
 * npm run bench -- --postgres [--runs 3 --duration 5 --connections 10,32,64 --json]
 *
 * Issue 13's PostgreSQL figures: Confide on one node, Confide on two nodes against one database,
 * the floor and the baseline (bench/postgres-servers.ts), driven at each connection count like the
 * SQLite bench: creates of 1 KiB JSON records, then reads by id, the order of the servers rotating
 * by run, each figure the median over the runs. The two nodes are driven at once, the connections
 * split between them (bench/drive.ts, `driveTwo`). Prints the SQLite bench's table plus the
 * two-node row, with Confide/floor, Confide/baseline and two nodes/one node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchPostgres } from './bench-postgres.js';
import { createRequest, drive, driveTwo, medianFigures, ratio, readRequest, type Figures } from './drive.js';
import { startPostgresServers, type PostgresTargets, type Started } from './postgres-servers.js';

export interface PostgresBenchOptions {
  runs: number;
  duration: number;
  connections: number[];
  /** Bench tenants per side: each request is the next tenant's, round-robin (1: one tenant, as on SQLite). */
  tenants: number;
  say: (line: string) => void;
  postgres: BenchPostgres;
}

type Side = 'confide' | 'confideTwoNodes' | 'floor' | 'baseline';
const SIDES: readonly Side[] = ['confide', 'confideTwoNodes', 'floor', 'baseline'];
const LABELS: Record<Side, string> = { confide: 'confide, one node', confideTwoNodes: 'confide, two nodes', floor: 'floor', baseline: 'baseline' };
type Phase = 'create' | 'read';
type Samples = Record<Phase, Record<Side, Figures[]>>;

export type PostgresPhaseSummary = Record<Side, Figures> & {
  /** Confide (one node)/floor, Confide (one node)/baseline, and two nodes/one node, in req/s. */
  ratioFloor: number;
  ratioBaseline: number;
  ratioTwoNodes: number;
};

/** One phase on one side at one connection count. */
function measureOne(targets: PostgresTargets, side: Side, phase: Phase, connections: number, duration: number): Promise<Figures> {
  if (side === 'confideTwoNodes') {
    const [a, b] = targets.twoNodes;
    // The second load generator starts halfway through the reads, so the two do not read in step.
    const requests = phase === 'create' ? ([createRequest(a), createRequest(b)] as const) : ([readRequest(a), readRequest(b, 100)] as const);
    return driveTwo([a[0]!.url, b[0]!.url], [...requests], connections, duration);
  }
  const tenants = targets[side];
  return drive(tenants[0]!.url, [phase === 'create' ? createRequest(tenants) : readRequest(tenants)], connections, duration);
}

async function measureAt(connections: number, targets: PostgresTargets, options: PostgresBenchOptions): Promise<Samples> {
  const samples: Samples = { create: { confide: [], confideTwoNodes: [], floor: [], baseline: [] }, read: { confide: [], confideTwoNodes: [], floor: [], baseline: [] } };
  for (let run = 1; run <= options.runs; run += 1) {
    options.say(`postgres, ${connections} connections: run ${run}/${options.runs}…`);
    // Which server goes first rotates by run, so none always meets the machine's mood of one slot.
    const order = SIDES.map((_, i) => SIDES[(i + run) % SIDES.length]!);
    for (const phase of ['create', 'read'] as const) {
      for (const side of order) samples[phase][side].push(await measureOne(targets, side, phase, connections, options.duration));
    }
  }
  return samples;
}

function summarise(samples: Samples, connections: number, options: PostgresBenchOptions): Record<Phase, PostgresPhaseSummary> {
  const { say } = options;
  const out = {} as Record<Phase, PostgresPhaseSummary>;
  say(`\nPostgreSQL, ${connections} connections, ${options.tenants} tenant(s), ${options.duration} s per phase, median of ${options.runs} runs, 1 KiB JSON bodies, keep-alive HTTPS`);
  say('phase    server                 req/s     p50 ms   p99 ms');
  for (const phase of ['create', 'read'] as const) {
    const sides = Object.fromEntries(SIDES.map((side) => [side, medianFigures(samples[phase][side])])) as Record<Side, Figures>;
    out[phase] = { ...sides, ratioFloor: ratio(sides.confide, sides.floor), ratioBaseline: ratio(sides.confide, sides.baseline), ratioTwoNodes: ratio(sides.confideTwoNodes, sides.confide) };
    for (const side of SIDES) {
      const f = sides[side];
      say(`${phase.padEnd(8)} ${LABELS[side].padEnd(22)} ${String(f.rps).padStart(8)} ${String(f.p50).padStart(9)} ${String(f.p99).padStart(8)}`);
    }
    say(`${phase.padEnd(8)} ratios: confide/floor ${out[phase].ratioFloor}, confide/baseline ${out[phase].ratioBaseline}, two nodes/one node ${out[phase].ratioTwoNodes}`);
  }
  return out;
}

/** Starts the servers, measures every connection count, stops them and drops their schemas. */
export async function postgresBench(options: PostgresBenchOptions): Promise<{ postgres: { connections: Record<string, Record<Phase, PostgresPhaseSummary>> } }> {
  if (options.connections.some((n) => n < 2)) throw new Error('--postgres: every connection count must be at least 2 (two nodes share them)');
  const root = mkdtempSync(join(tmpdir(), 'confide-bench-postgres-'));
  const started: Started = { children: [], schemas: [] };
  try {
    const targets = await startPostgresServers(root, options.postgres, options.tenants, started);
    const connections: Record<string, Record<Phase, PostgresPhaseSummary>> = {};
    for (const n of options.connections) connections[n] = summarise(await measureAt(n, targets, options), n, options);
    return { postgres: { connections } };
  } finally {
    for (const child of started.children) child.kill('SIGKILL');
    // A killed server's connections may linger a moment: wait for their exits before the schemas go.
    const exited = (child: (typeof started.children)[number]) => child.exitCode !== null || child.signalCode !== null;
    await Promise.all(started.children.map((child) => new Promise((resolve) => (exited(child) ? resolve(undefined) : child.once('exit', resolve)))));
    for (const schema of started.schemas) await schema.drop().catch((error: unknown) => options.say(`could not drop a bench schema: ${String(error)}`));
    rmSync(root, { recursive: true, force: true });
  }
}

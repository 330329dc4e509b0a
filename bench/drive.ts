/**
 * The load itself, shared by the SQLite and PostgreSQL benches: autocannon over keep-alive HTTPS,
 * creating 1 KiB JSON records or reading them by id, round-robin.
 */
import autocannon from 'autocannon';
import { httpsJson } from '../test/harness/server-process.js';

/** A 1 KiB JSON body. */
export const BODY = JSON.stringify({ name: 'Bench Record', note: 'x'.repeat(1024 - 40) });

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

/** How to create on and read from one server: its URL, headers, and the ids of records made for reading. */
export interface Target {
  url: string;
  createPath: string;
  readPath: (id: string) => string;
  headers: Record<string, string>;
  ids: string[];
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One server's figures over several runs: the median of each (req/s rounded). */
export const medianFigures = (runs: readonly Figures[]): Figures => ({
  rps: Math.round(median(runs.map((run) => run.rps))),
  p50: median(runs.map((run) => run.p50)),
  p99: median(runs.map((run) => run.p99)),
});

/** a/b in req/s, to three places: the ratios every bench prints. */
export const ratio = (a: Figures, b: Figures): number => Number((a.rps / b.rps).toFixed(3));

/** Confide's records API (and the floors', which answer the same paths) with a session token. */
export const recordsApi = (port: number, token: string): Target => ({
  url: `https://127.0.0.1:${port}`,
  createPath: '/v1/collections/bench/records',
  readPath: (id) => `/v1/collections/bench/records/${id}`,
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  ids: [],
});

/** Creates one record on `target` (outside any measurement) and remembers its id for the reads. */
export async function seedRecord(target: Target): Promise<void> {
  const token = target.headers.authorization?.slice('Bearer '.length);
  target.ids.push((await httpsJson(Number(new URL(target.url).port), 'POST', target.createPath, JSON.parse(BODY), token)).body.id as string);
}

/** Creates, as each of one server's bench tenants in turn (`tenants`: one Target per tenant). */
export function createRequest(tenants: Target[]): autocannon.Request {
  let next = 0;
  return { method: 'POST', path: tenants[0]!.createPath, body: BODY, setupRequest: (r) => ({ ...r, headers: tenants[next++ % tenants.length]!.headers }) };
}

/** Reads each tenant's ids round-robin, one tenant after the other; `from` staggers where a second load generator starts. */
export function readRequest(tenants: Target[], from = 0): autocannon.Request {
  let next = from;
  return {
    method: 'GET',
    setupRequest: (r) => {
      const tenant = tenants[next % tenants.length]!;
      const id = tenant.ids[Math.floor(next / tenants.length) % tenant.ids.length]!;
      next += 1;
      const { authorization } = tenant.headers;
      return { ...r, path: tenant.readPath(id), headers: authorization ? { authorization } : {} };
    },
  };
}

/** Drives `url` for `duration` seconds; any non-2xx answer or error fails the run, quoting the first. */
export async function drive(url: string, requests: autocannon.Request[], connections: number, duration: number): Promise<Figures> {
  let sample = '';
  const observed = requests.map((request) => ({
    ...request,
    onResponse: (status: number, body: string) => {
      if (status >= 300 && !sample) sample = `${status} ${body.slice(0, 200)}`;
    },
  }));
  const result = await autocannon({ url, connections, duration, requests: observed, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors (first: ${sample})`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/**
 * Drives two nodes of one service at once: the connections split between them (the first gets the
 * odd one), one autocannon each, started together in this one process, so the load generator has
 * the same share of the machine as when it drives one node. The figures: req/s summed, and for
 * p50 and p99 the worse of the two (a client behind a balancer meets either node).
 */
export async function driveTwo(urls: [string, string], requests: [autocannon.Request, autocannon.Request], connections: number, duration: number): Promise<Figures> {
  if (connections < 2) throw new Error('two nodes need at least 2 connections');
  const first = Math.ceil(connections / 2);
  const [a, b] = await Promise.all([
    drive(urls[0], [requests[0]], first, duration),
    drive(urls[1], [requests[1]], connections - first, duration),
  ]);
  return { rps: a.rps + b.rps, p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99) };
}

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { residentBytes, startScaleServer, stopScaleServer } from './scale-server.js';
import { median } from './drive.js';
import { seedEnv } from './seed.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Seconds from spawning `confide serve` to 'Confide is listening', `times` starts in a row; each is stopped before the next. */
export async function startupSeconds(root: string, times: number): Promise<{ median: number; each: number[] }> {
  const each: number[] = [];
  for (let i = 0; i < times; i += 1) {
    const server = await startScaleServer(root);
    each.push(Number(server.startSeconds.toFixed(2)));
    await stopScaleServer(server);
  }
  return { median: median(each), each };
}

/** The process's resident memory sampled every 100 ms while `work` runs: the highest seen, and the last before it began. */
export async function residentDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; beforeBytes: number; peakBytes: number }> {
  const beforeBytes = residentBytes(pid);
  let peakBytes = beforeBytes;
  const timer = setInterval(() => (peakBytes = Math.max(peakBytes, residentBytes(pid))), 100);
  try {
    const result = await work();
    peakBytes = Math.max(peakBytes, residentBytes(pid));
    return { result, beforeBytes, peakBytes };
  } finally {
    clearInterval(timer);
  }
}

export interface ExportFigures {
  entries: number;
  bytes: number;
  seconds: number;
  entriesPerSecond: number;
  megabytesPerSecond: number;
}

/** GET /v1/access-log/export, read to its end: entries (lines of type entry) and bytes per second, from the request to the last byte. */
export function exportThroughput(port: number, token: string): Promise<ExportFigures> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'GET', path: '/v1/access-log/export', headers: { authorization: `Bearer ${token}` }, agent: new Agent({ rejectUnauthorized: false }) },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`export answered ${res.statusCode}`));
        let bytes = 0;
        let entries = 0;
        let tail = '';
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          const lines = (tail + chunk.toString('utf8')).split('\n');
          tail = lines.pop()!;
          for (const line of lines) if (line.startsWith('{"type":"entry"')) entries += 1;
        });
        res.on('end', () => {
          const seconds = (performance.now() - started) / 1000;
          resolve({ entries, bytes, seconds: Number(seconds.toFixed(2)), entriesPerSecond: Math.round(entries / seconds), megabytesPerSecond: Number((bytes / 1e6 / seconds).toFixed(1)) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface VerifyFigures {
  tenants: number;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
}

/**
 * `confide audit verify --json --jobs <jobs>` (built) on the whole deployment, the server stopped:
 * its wall time from spawn to exit (opening the database included) and the entries it verified.
 * `jobs` 1 is one process on one core; `auto` one per CPU. Every chain must verify. `extraArgs` go
 * to node (a --cpu-prof, say). The report goes to a file, as an operator's would.
 */
export function verifyThroughput(root: string, jobs: '1' | 'auto', extraArgs: string[] = []): Promise<VerifyFigures> {
  const scratch = mkdtempSync(join(tmpdir(), 'confide-bench-verify-'));
  const reportFile = join(scratch, 'report.json');
  const out = openSync(reportFile, 'w');
  const started = performance.now();
  return new Promise<VerifyFigures>((resolve, reject) => {
    const child = spawn(process.execPath, [...extraArgs, 'dist/cli/main.js', 'audit', 'verify', '--json', '--jobs', jobs], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...seedEnv(root) }, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const stdout = readFileSync(reportFile, 'utf8');
      if (code !== 0) return reject(new Error(`confide audit verify exited ${code}: ${stderr}${stdout.slice(0, 2000)}`));
      const report = JSON.parse(stdout) as { ok: boolean; tenants: Array<{ entries: number }> };
      const entries = report.tenants.reduce((sum, tenant) => sum + tenant.entries, 0);
      resolve({ tenants: report.tenants.length, entries, seconds: Number(seconds.toFixed(2)), entriesPerSecond: Math.round(entries / seconds) });
    });
  }).finally(() => {
    closeSync(out);
    rmSync(scratch, { recursive: true, force: true });
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { httpsJson } from '../test/harness/server-process.js';
import { freePort } from '../test/harness/free-port.js';
import { HIGH_RATE_LIMITS } from '../test/harness/rate-limit-env.js';
import { readManifest, seedEnv } from './seed.js';
import type { SeededTenant } from './seed-tenant.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A running `confide serve` (built, dist/) on a seeded deployment, and how long it took to listen. */
export interface ScaleServer {
  child: ChildProcess;
  port: number;
  env: Record<string, string>;
  startSeconds: number;
}

/**
 * Starts the built server on a seeded deployment, timing from the spawn to 'Confide is listening'
 * (both listeners up). The rate limiters count every request but never refuse, as in bench/run.ts.
 */
export async function startScaleServer(root: string): Promise<ScaleServer> {
  const port = await freePort();
  const env = {
    ...seedEnv(root),
    ...HIGH_RATE_LIMITS,
    CONFIDE_RATE_LIMIT_PER_IP: '1000000000',
    CONFIDE_RATE_LIMIT_PER_ACCOUNT: '1000000000',
    CONFIDE_RATE_LIMIT_PER_TENANT: '1000000000',
    CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${port}`,
    CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`,
  };
  const started = performance.now();
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Confide is listening')) resolve();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`confide serve exited ${code}: ${output}`)));
  });
  return { child, port, env, startSeconds: (performance.now() - started) / 1000 };
}

export async function stopScaleServer(server: ScaleServer): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** Resident memory of a process now, from /proc (Linux), in bytes. */
export function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** A signed-in member of a seeded tenant, with records of it to read. */
export interface SignedInTenant extends SeededTenant {
  token: string;
}

/** `count` tenants drawn at random (all when there are no more), excluding the first (the big one) when others exist. */
export function sampleTenants(tenants: SeededTenant[], count: number): SeededTenant[] {
  const pool = tenants.length > 1 ? tenants.slice(1) : [...tenants];
  for (let i = pool.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** Signs each tenant's owner in through the API (POST /v1/sessions, the password the seed set), a few at a time. */
export async function signIn(server: ScaleServer, root: string, tenants: SeededTenant[]): Promise<SignedInTenant[]> {
  const { password } = readManifest(root);
  const out: SignedInTenant[] = [];
  for (let i = 0; i < tenants.length; i += 4) {
    const signed = await Promise.all(
      tenants.slice(i, i + 4).map(async (tenant) => {
        const answer = await httpsJson(server.port, 'POST', '/v1/sessions', { email: tenant.email, password });
        if (answer.status !== 201) throw new Error(`sign-in of ${tenant.email}: ${answer.status} ${JSON.stringify(answer.body)}`);
        return { ...tenant, token: answer.body.token as string };
      }),
    );
    out.push(...signed);
  }
  return out;
}

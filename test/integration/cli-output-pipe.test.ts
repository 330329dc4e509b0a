import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confideCommand } from '../harness/confide-command.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { createTenant } from '../../src/tenants/create-tenant.js';
import { newId } from '../../src/lib/ids.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TENANTS = 30;
const ENTRIES = 120;

/**
 * Runs `confide …` in a shell pipeline whose reader starts late (`confide … | { sleep; cat; }`): the
 * pipe (64 KiB) fills at once and Node keeps the rest of the output queued in the process, as with
 * any reader slower than the writer. Returns what came through the pipe and confide's exit status.
 */
function runPiped(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const pipeline = '{ "$0" "$@"; echo "exit status $?" >&2; } | { sleep 0.5; cat; }';
  const child = spawn('sh', ['-c', pipeline, process.execPath, ...confideCommand(), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      const errors = Buffer.concat(stderr).toString('utf8');
      const status = /exit status (\d+)\n$/.exec(errors)?.[1];
      resolve({ status: status === undefined ? null : Number(status), stdout: Buffer.concat(stdout).toString('utf8'), stderr: errors });
    });
  });
}

/**
 * A command's output reaches a pipe whole: the CLI exits only once stdout has taken everything
 * (process.exit at once cut a report off at the pipe's 64 KiB).
 */
describe('CLI output on a pipe', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    // Tenants whose every entry is forged: each reports its 100 problems, so the report is large.
    const { db } = t.app.services;
    for (let i = 0; i < TENANTS; i += 1) {
      const tenantId = newId();
      await db.transaction().execute(async (trx) => {
        await createTenant(t.app.services, trx, { id: tenantId, name: `Pipe ${i}`, createdAt: new Date().toISOString() });
      });
      const rows = Array.from({ length: ENTRIES }, (_, n) => ({
        tenant_id: tenantId,
        seq: n + 1,
        at: new Date().toISOString(),
        actor_type: 'member',
        actor_id: 'forger',
        action: 'read',
        resource_type: 'record',
        resource_collection: 'patients',
        resource_id: `r-${n}`,
        grant_id: null,
        justification: null,
        ip_enc: null,
        details_enc: null,
        prev_hash: 'a'.repeat(64),
        hash: 'b'.repeat(64),
      }));
      await db.insertInto('access_log').values(rows).execute();
    }
  });
  afterAll(async () => t?.close());

  it('confide audit verify --json writes its whole report (hundreds of KiB) to a slow pipe before it exits', async () => {
    const { status, stdout, stderr } = await runPiped(['audit', 'verify', '--json'], t.env);
    expect(stderr).toBe('exit status 1\n'); // the forged chains fail, and nothing else went wrong
    expect(status).toBe(1);
    expect(stdout.length).toBeGreaterThan(200 * 1024);
    expect(stdout.endsWith('}\n')).toBe(true);
    const report = JSON.parse(stdout) as { ok: boolean; tenants: Array<{ ok: boolean; problems: unknown[] }> };
    expect(report.tenants).toHaveLength(TENANTS);
    expect(report.tenants.every((tenant) => !tenant.ok && tenant.problems.length === 100)).toBe(true);
  }, 60_000);
});

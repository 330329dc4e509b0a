import { spawn } from 'node:child_process';
import type { VerificationReport } from '../audit/verify-access-log.js';

export type TenantReport = { tenantId: string } & VerificationReport;

/**
 * Verifies each shard's tenants in a `confide audit verify` process of its own, all at once, and
 * gives their reports. Tenants' chains are independent, and one process walks one chain on one
 * core (every entry is a row read, an AES-GCM open and a SHA-256: about 20 µs), so several
 * processes are what more cores can add. Each is this same command, started the way this one was
 * (node's own flags included), with the same environment (the master key's too: nothing secret
 * goes on a command line), told its tenants on stdin. A process that fails, or answers anything
 * but its report, fails the whole verification: a report is never assembled from part of the
 * tenants.
 */
export async function verifyInProcesses(shards: readonly string[][]): Promise<TenantReport[]> {
  const reports = await Promise.all(shards.map((tenantIds) => verifyShard(tenantIds)));
  return reports.flat();
}

function verifyShard(tenantIds: readonly string[]): Promise<TenantReport[]> {
  const script = process.argv[1];
  if (!script) return Promise.reject(new Error('cannot start a verifier process: the command’s own script is unknown'));
  return new Promise((resolve, reject) => {
    // The environment is inherited (spawn's default), the master key's with it.
    const child = spawn(process.execPath, [...process.execArgv, script, 'audit', 'verify', '--json', '--jobs', '1', '--tenants-from', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const report = parseReport(Buffer.concat(stdout).toString('utf8'));
      // Exit 1 with a report is a broken chain, which the report names; anything else is a failure.
      if ((code === 0 || code === 1) && report) return resolve(report.tenants);
      const reason = stderr.trim().split('\n')[0] ?? '';
      reject(new Error(`a verifier process failed (exit ${code})${reason ? `: ${reason.replace(/^confide: /, '')}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a process that failed at start stops reading: its exit says why
    child.stdin.end(`${tenantIds.join('\n')}\n`);
  });
}

function parseReport(text: string): { tenants: TenantReport[] } | undefined {
  try {
    const parsed = JSON.parse(text) as { tenants?: unknown };
    return Array.isArray(parsed.tenants) ? (parsed as { tenants: TenantReport[] }) : undefined;
  } catch {
    return undefined;
  }
}

import { spawn } from 'node:child_process';
import type { SegmentSummary } from '../audit/access-log-chain-walk.js';
import type { VerificationReport } from '../audit/verify-access-log.js';
import type { VerifyItem } from './verify-shards.js';

export type TenantReport = { tenantId: string } & VerificationReport;
/** A stretch of a chain one verifier process walked: the item, with the checkpoint seq it was told, and what it found. */
export type SegmentReport = { tenantId: string; fromSeq: number; toSeq: number } & SegmentSummary;

/** A verifier process's work as the lines it is told on stdin: the item, and for a stretch the checkpoint seq (or -) too. */
export interface PlannedItem extends VerifyItem {
  segment?: { fromSeq: number; toSeq: number; checkpointSeq: number | null };
}

/**
 * One line of `--tenants-from`: a tenant id, or (how `--jobs` hands a verifier process a stretch
 * of a long chain) `<tenant id> <from seq> <to seq> <checkpoint seq or ->`.
 */
export function itemLine(item: PlannedItem): string {
  const { segment } = item;
  return segment ? `${item.tenantId} ${segment.fromSeq} ${segment.toSeq} ${segment.checkpointSeq ?? '-'}` : item.tenantId;
}

export function parseItemLine(line: string): PlannedItem {
  const parts = line.split(/\s+/);
  if (parts.length === 1) return { tenantId: parts[0]! };
  const [tenantId, from, to, checkpoint] = parts;
  const seq = (text: string | undefined) => (text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : NaN);
  const [fromSeq, toSeq] = [seq(from), seq(to)];
  const checkpointSeq = checkpoint === '-' ? null : seq(checkpoint);
  if (parts.length !== 4 || !(fromSeq >= 1 && toSeq >= fromSeq) || Number.isNaN(checkpointSeq)) {
    throw new Error(`--tenants-from: ${JSON.stringify(line.slice(0, 200))} is neither a tenant id nor a stretch of a chain`);
  }
  return { tenantId: tenantId!, segment: { fromSeq, toSeq, checkpointSeq } };
}

/**
 * Verifies each shard's items in a `confide audit verify` process of its own, all at once, and
 * gives their reports. Chains are independent, and so are stretches of one chain once each knows
 * where it starts (AccessLogChainWalk.segment); one process walks on one core (every entry is a
 * row read, an AES-GCM open and a SHA-256: about 20 µs), so several processes are what more cores
 * can add. Each is this same command, started the way this one was (node's own flags included),
 * with the same environment (the master key's too: nothing secret goes on a command line), told
 * its items on stdin. A process that fails, or answers anything but its report, fails the whole
 * verification: a report is never assembled from part of the work.
 */
export async function verifyInProcesses(shards: readonly PlannedItem[][]): Promise<{ tenants: TenantReport[]; segments: SegmentReport[] }> {
  const reports = await Promise.all(shards.map((items) => verifyShard(items)));
  return { tenants: reports.flatMap((report) => report.tenants), segments: reports.flatMap((report) => report.segments ?? []) };
}

interface ProcessReport {
  tenants: TenantReport[];
  segments?: SegmentReport[];
}

function verifyShard(items: readonly PlannedItem[]): Promise<ProcessReport> {
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
      if ((code === 0 || code === 1) && report) return resolve(report);
      const reason = stderr.trim().split('\n')[0] ?? '';
      reject(new Error(`a verifier process failed (exit ${code})${reason ? `: ${reason.replace(/^confide: /, '')}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a process that failed at start stops reading: its exit says why
    child.stdin.end(`${items.map(itemLine).join('\n')}\n`);
  });
}

function parseReport(text: string): ProcessReport | undefined {
  try {
    const parsed = JSON.parse(text) as { tenants?: unknown; segments?: unknown };
    return Array.isArray(parsed.tenants) && (parsed.segments === undefined || Array.isArray(parsed.segments)) ? (parsed as ProcessReport) : undefined;
  } catch {
    return undefined;
  }
}

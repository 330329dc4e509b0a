import { spawn, type ChildProcess } from 'node:child_process';
import { parseVerifierReport, VERIFIER_PROTOCOL, workLine, type VerifierReport, type WorkItem } from './verify-work.js';

/**
 * Verifies each shard's items in a `confide audit verify` process of its own, all at once, and
 * gives their reports. Chains are independent, and so are segments of one chain once each knows
 * where it starts (AccessLogChainWalk.segment); one process walks on one core (every entry is a
 * row read, an AES-GCM open and a SHA-256: about 20 µs), so several processes are what more cores
 * can add. Each is this same command, started the way this one was (node's own flags included,
 * but a debugger's, whose port the first would hold), with the same environment (the master
 * key's too: nothing secret goes on a command line), told its work on stdin (verify-work.ts). A
 * process that fails, or answers anything but its whole report, fails the verification and the
 * others are stopped: a report is never assembled from part of the work.
 */
export async function verifyInProcesses(shards: readonly WorkItem[][]): Promise<VerifierReport> {
  const children = new Set<ChildProcess>();
  const stopAll = () => {
    for (const child of children) child.kill();
  };
  // Stopped with the command, too: a signal ends it without running what follows.
  const onSignal = (signal: NodeJS.Signals) => {
    stopAll();
    process.kill(process.pid, signal);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const reports = await Promise.all(shards.map((items) => verifyShard(items, children)));
    return { tenants: reports.flatMap((report) => report.tenants), segments: reports.flatMap((report) => report.segments) };
  } catch (error) {
    stopAll();
    throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

function verifyShard(items: readonly WorkItem[], children: Set<ChildProcess>): Promise<VerifierReport> {
  const script = process.argv[1];
  if (!script) return Promise.reject(new Error('cannot start a verifier process: the command’s own script is unknown'));
  const nodeFlags = process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
  return new Promise((resolve, reject) => {
    // The environment is inherited (spawn's default), the master key's with it.
    const child = spawn(process.execPath, [...nodeFlags, script, 'audit', 'verify', '--json', '--jobs', '1', '--verifier-work', VERIFIER_PROTOCOL], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      const report = parseVerifierReport(Buffer.concat(stdout).toString('utf8'), items);
      // Exit 1 with a report is a broken chain, which the report names; anything else is a failure.
      if ((code === 0 || code === 1) && report) return resolve(report);
      const how = signal ? `stopped by ${signal}` : `exit ${code}`;
      const reason = failureReason(stderr);
      reject(new Error(`a verifier process failed (${how})${reason ? `: ${reason}` : ''}`));
    });
    child.stdin.on('error', () => undefined); // a process that failed at start stops reading: its exit says why
    child.stdin.end(`${items.map(workLine).join('\n')}\n`);
  });
}

/** The verifier's own error: its last `confide:` line that is not a warning (main.ts fail() writes it last). */
function failureReason(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.startsWith('confide: ') && !line.startsWith('confide: warning:'));
  return lines.at(-1)?.slice('confide: '.length) ?? '';
}

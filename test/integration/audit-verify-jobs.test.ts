import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { runCli, spawnCli } from '../harness/run-cli.js';
import { MIN_SEGMENT_ENTRIES } from '../../src/cli/verify-shards.js';

// `confide audit verify --jobs N`: tenants divided between verifier processes, the reports merged.
describe.each(DIALECTS)('confide audit verify in several processes on %s', (dialect) => {
  let t: TestApp;
  let tenants: TestTenant[];
  let spy: ReturnType<typeof processSpy>;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    tenants = [];
    for (let i = 0; i < 4; i++) {
      const tenant = await buildTenant(t);
      for (let r = 0; r < 2 + i * 3; r++) await buildRecord(t, tenant);
      tenants.push(tenant);
    }
    spy = processSpy();
  });
  afterAll(() => t.close());

  const verify = (args: string[], env: Record<string, string> = {}, input?: string) => runCli(['audit', 'verify', '--json', ...args], { ...t.env, ...env }, input);
  const verifiers = (argvs: string[][]) => argvs.filter((argv) => argv.includes('--verifier-work'));

  it('gives, from two processes, the report one process gives, each tenant walked once', async () => {
    const one = verify(['--jobs', '1']);
    expect(one.stderr).toBe('');
    expect(one.status).toBe(0);
    const two = verify(['--jobs', '2'], spy.env);
    expect(two.stderr).toBe('');
    expect(two.status).toBe(0);
    expect(JSON.parse(two.stdout)).toEqual(JSON.parse(one.stdout));
    expect(JSON.parse(two.stdout).tenants.map((r: { tenantId: string }) => r.tenantId)).toEqual(expect.arrayContaining(tenants.map((x) => x.tenantId)));
    // The command, and two verifiers it started, each told its tenants on stdin.
    const started = spy.processes();
    expect(started).toHaveLength(3);
    expect(verifiers(started)).toHaveLength(2);

    // By default (auto) a deployment this small is walked by the command alone: another process would not pay.
    const small = processSpy();
    const auto = verify([], small.env);
    expect(auto.status).toBe(0);
    expect(JSON.parse(auto.stdout)).toEqual(JSON.parse(one.stdout));
    expect(small.processes()).toHaveLength(1);
  });

  it('names a broken chain found by one of the processes, and exits 1', async () => {
    const victim = tenants[2]!;
    const entry = t.app.services.db.selectFrom('access_log').where('tenant_id', '=', victim.tenantId).where('seq', '=', 3);
    const { resource_id: original } = await entry.select('resource_id').executeTakeFirstOrThrow();
    await t.app.services.db.updateTable('access_log').set({ resource_id: 'forged' }).where('tenant_id', '=', victim.tenantId).where('seq', '=', 3).execute();
    try {
      const one = verify(['--jobs', '1']);
      const two = verify(['--jobs', '3']);
      expect(two.status).toBe(1);
      expect(one.status).toBe(1);
      const report = JSON.parse(two.stdout);
      expect(report).toEqual(JSON.parse(one.stdout));
      expect(report.ok).toBe(false);
      const broken = report.tenants.filter((r: { ok: boolean }) => !r.ok);
      expect(broken).toMatchObject([{ tenantId: victim.tenantId, firstBadSeq: 3 }]);
      const text = runCli(['audit', 'verify', '--jobs', '2'], t.env);
      expect(text.status).toBe(1);
      expect(text.stdout).toContain(`${victim.tenantId}`);
      expect(text.stdout).toContain('BROKEN at entry 3');
      expect(text.stdout).toContain('access log verification FAILED');
    } finally {
      await t.app.services.db.updateTable('access_log').set({ resource_id: original }).where('tenant_id', '=', victim.tenantId).where('seq', '=', 3).execute();
    }
    expect(verify(['--jobs', '3']).status).toBe(0);
  });

  it('verifies only the tenants listed, from a file or stdin, in the order listed', () => {
    const listed = [tenants[3]!.tenantId, tenants[0]!.tenantId];
    const list = `${listed[0]}\n\n${listed[1]}\n${listed[0]}\n`;
    const file = join(mkdtempSync(join(tmpdir(), 'confide-tenants-')), 'tenants.txt');
    writeFileSync(file, list);
    for (const [args, input] of [[['--tenants-from', file, '--jobs', '1']], [['--tenants-from', file, '--jobs', '2']], [['--tenants-from', '-', '--jobs', '2'], list]] as Array<[string[], string?]>) {
      const result = verify(args, {}, input);
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout).tenants.map((r: { tenantId: string }) => r.tenantId)).toEqual(listed);
    }
  });

  it('refuses an unknown tenant, a bad --jobs and --tenant with --tenants-from, with one line and nothing verified', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'confide-tenants-')), 'tenants.txt');
    writeFileSync(file, `${tenants[0]!.tenantId}\n01900000-0000-7000-8000-000000000000\n`);
    const cases: Array<[string[], RegExp]> = [
      [['--tenants-from', file, '--jobs', '2'], /^confide: no tenant 01900000-0000-7000-8000-000000000000$/],
      [['--jobs', '0'], /^confide: --jobs must be auto or a whole number from 1 to 64, not "0"$/],
      [['--jobs', 'many'], /^confide: --jobs must be auto/],
      [['--tenant', tenants[0]!.tenantId, '--tenants-from', file], /^confide: give --tenant or --tenants-from, not both$/],
    ];
    for (const [args, message] of cases) {
      const result = verify(args);
      expect(result.status, args.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr.trim()).toMatch(message);
    }
  });

  // On the embedded database only: PostgreSQL appends one tenant's entries one at a time (its head
  // is locked per append), and 20,500 take half a minute there. The segments' walk and seams are
  // held to one walk's report on both stores by access-log-segments.test.ts.
  it.runIf(dialect === 'sqlite')('walks a long chain in segments, one per process, and reports it as one walk does', async () => {
    const long = await buildTenant(t);
    const cipher = await t.app.services.keyRing.cipherFor(long.tenantId);
    const entries = 2 * MIN_SEGMENT_ENTRIES + 500; // two segments: 1–10,250 and 10,251–20,500
    for (let done = 0; done < entries; done += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, entries - done) }, (_, i) =>
          t.app.services.accessLog.appendDurably(long.tenantId, cipher, { actor: { type: 'member', id: long.userId }, action: 'read', resource: { type: 'record', collection: 'c', id: `r${done + i}` }, ip: '127.0.0.1' }),
        ),
      );
    }
    await t.app.services.checkpoints.checkpointNow(long.tenantId);
    const segmentSpy = processSpy();
    const one = verify(['--tenant', long.tenantId, '--jobs', '1']);
    const two = verify(['--tenant', long.tenantId, '--jobs', '2'], segmentSpy.env);
    expect(two.stderr).toBe('');
    expect(two.status).toBe(0);
    expect(JSON.parse(two.stdout)).toEqual(JSON.parse(one.stdout));
    expect(JSON.parse(two.stdout).tenants).toMatchObject([{ tenantId: long.tenantId, ok: true, entries, checkpoint: { seq: entries } }]);
    expect(verifiers(segmentSpy.processes())).toHaveLength(2);

    // Broken just after the seam: the process with the second segment finds it, the command names it.
    const seam = entries / 2 + 1;
    await t.app.services.db.updateTable('access_log').set({ prev_hash: '0'.repeat(64) }).where('tenant_id', '=', long.tenantId).where('seq', '=', seam).execute();
    const brokenOne = verify(['--tenant', long.tenantId, '--jobs', '1']);
    const brokenTwo = verify(['--tenant', long.tenantId, '--jobs', '2']);
    expect(brokenTwo.status).toBe(1);
    expect(JSON.parse(brokenTwo.stdout)).toEqual(JSON.parse(brokenOne.stdout));
    expect(JSON.parse(brokenTwo.stdout).tenants[0]).toMatchObject({ ok: false, firstBadSeq: seam });
  }, 180_000);

  it('as a verifier process, walks the segments it is told on stdin and refuses anything else', () => {
    const id = tenants[1]!.tenantId;
    const worker = (input: string, protocol = '1') => runCli(['audit', 'verify', '--json', '--jobs', '1', '--verifier-work', protocol], t.env, input);
    const segment = worker(`${id} 2 4 -\n${tenants[0]!.tenantId}\n`);
    expect(segment.stderr).toBe('');
    expect(segment.status).toBe(0);
    expect(JSON.parse(segment.stdout)).toMatchObject({
      ok: true,
      tenants: [{ tenantId: tenants[0]!.tenantId, ok: true }],
      segments: [{ tenantId: id, fromSeq: 2, toSeq: 4, entries: 3, first: { seq: 2 }, lastSeq: 4, problems: [] }],
    });
    for (const line of [`${id} 4 2 -`, `${id} 1 2`, `${id} 0 2 -`, `${id} 1 2 x`, `${id} 1 99999999999999999 -`]) {
      const bad = worker(`${line}\n`);
      expect(bad.status, line).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr.trim()).toBe(`confide: verifier work: ${JSON.stringify(line)} is neither a tenant id nor a segment of a chain`);
    }
    const otherRelease = worker(`${id}\n`, '2');
    expect(otherRelease.status).toBe(1);
    expect(otherRelease.stderr.trim()).toBe('confide: this confide speaks verifier protocol 1, not "2"');
    // A segment is no verdict on a chain: --tenants-from, the operator's list, takes tenant ids only.
    const listed = verify(['--tenants-from', '-'], {}, `${id} 2 4 -\n`);
    expect(listed.status).toBe(1);
    expect(listed.stdout).toBe('');
    expect(listed.stderr.trim()).toBe(`confide: --tenants-from -: ${JSON.stringify(`${id} 2 4 -`)} is not a tenant id`);
  });

  it('fails whole, naming why, when a verifier process fails or answers less than its whole report', () => {
    // The spy's preload makes every verifier process misbehave (CONFIDE_TEST_BREAK_VERIFIER): the
    // command reports that, never a report made from what the other processes gave.
    const cases: Array<[string, RegExp]> = [
      ['exit', /^confide: a verifier process failed \(exit 3\): broken on purpose$/],
      ['garbage', /^confide: a verifier process failed \(exit 0\)$/],
      ['missing', /^confide: a verifier process failed \(exit 0\)$/],
      ['signal', /^confide: a verifier process failed \(stopped by SIGKILL\)$/],
    ];
    for (const [mode, message] of cases) {
      const result = runCli(['audit', 'verify', '--json', '--jobs', '2'], { ...t.env, ...spy.env, CONFIDE_TEST_BREAK_VERIFIER: mode });
      expect(result.status, mode).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr.trim()).toMatch(message);
    }
  });

  it('stops the other verifiers as soon as one fails', async () => {
    // One verifier fails at once; the other hangs for 30 s. The command must fail at once and take
    // the hanging one with it, not wait for it nor leave it running.
    const hangs = processSpy();
    const started = Date.now();
    const result = runCli(['audit', 'verify', '--json', '--jobs', '2'], { ...t.env, ...hangs.env, CONFIDE_TEST_BREAK_VERIFIER: 'one-hangs' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('confide: a verifier process failed (exit 3): broken on purpose');
    expect(Date.now() - started).toBeLessThan(20_000);
    const hung = hangs.hung();
    expect(hung).toBeGreaterThan(0);
    // Signalled as the command failed; gone within moments (no longer running, and reaped).
    await vi.waitFor(() => expect(alive(hung)).toBe(false), { timeout: 5_000, interval: 50 });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops every verifier when the command itself is stopped by %s', async (signal) => {
    // Both verifiers hang for 30 s; the command is signalled once both run. It must end by that
    // signal (not wait for them) and take both with it.
    const hangs = processSpy();
    const command = spawnCli(['audit', 'verify', '--json', '--jobs', '2'], { ...t.env, ...hangs.env, CONFIDE_TEST_BREAK_VERIFIER: 'all-hang' }, 'ignore');
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => command.once('exit', (code, how) => resolve({ code, signal: how })));
    await vi.waitFor(() => expect(hangs.hanging()).toHaveLength(2), { timeout: 30_000, interval: 50 });
    const hanging = hangs.hanging();
    const signalled = Date.now();
    command.kill(signal);
    expect(await ended).toEqual({ code: null, signal });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    await vi.waitFor(() => expect(hanging.filter(alive)).toEqual([]), { timeout: 5_000, interval: 50 });
  });
});

/** Whether a process is still running (signal 0 checks without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A preload (NODE_OPTIONS, which child processes inherit) that writes each node process's
 * arguments to a file of its own: how the test sees which processes the command started. With
 * CONFIDE_TEST_BREAK_VERIFIER set, a verifier process misbehaves at once: `exit` fails with a
 * message, `garbage` prints half a report, `missing` a well-formed report of none of its work,
 * `signal` dies by SIGKILL, `one-hangs` hangs for 30 s in every verifier but the first (writing
 * its pid to hung.pid), and fails in the first once one hangs; `all-hang` hangs for 30 s in every
 * verifier (each marked by a file hanging-PID).
 */
function processSpy(): { dir: string; env: Record<string, string>; processes: () => string[][]; hung: () => number; hanging: () => number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'confide-spy-'));
  const preload = join(dir, 'spy.cjs');
  writeFileSync(
    preload,
    `const fs = require('node:fs');
fs.writeFileSync(${JSON.stringify(dir)} + '/argv-' + process.pid + '.json', JSON.stringify(process.argv.slice(2)));
const mode = process.env.CONFIDE_TEST_BREAK_VERIFIER;
if (mode && process.argv.includes('--verifier-work')) {
  if (mode === 'exit') { process.stderr.write('(node) Warning: first, and not the reason\\nconfide: broken on purpose\\n'); process.exit(3); }
  if (mode === 'garbage') { process.stdout.write('{"ok":true,"tenants":['); process.exit(0); }
  if (mode === 'missing') { process.stdout.write('{"ok":true,"tenants":[],"segments":[]}\\n'); process.exit(0); }
  if (mode === 'signal') process.kill(process.pid, 'SIGKILL');
  if (mode === 'one-hangs') {
    let first = true;
    try { fs.writeFileSync(${JSON.stringify(dir)} + '/first', '', { flag: 'wx' }); } catch { first = false; }
    if (first) {
      // Fails once another verifier hangs, so that there is one to stop.
      for (let i = 0; i < 1000 && !fs.existsSync(${JSON.stringify(dir)} + '/hung.pid'); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      process.stderr.write('confide: broken on purpose\\n');
      process.exit(3);
    } else {
      fs.writeFileSync(${JSON.stringify(dir)} + '/hung.pid', String(process.pid));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
    }
  }
  if (mode === 'all-hang') {
    fs.writeFileSync(${JSON.stringify(dir)} + '/hanging-' + process.pid, '');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
  }
}
`,
  );
  return {
    dir,
    env: { NODE_OPTIONS: `--require ${preload}` },
    processes: () => readdirSync(dir).filter((name) => name.startsWith('argv-')).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as string[]),
    /** The pid a `one-hangs` verifier wrote (0: none did). */
    hung: () => Number(existsSync(join(dir, 'hung.pid')) ? readFileSync(join(dir, 'hung.pid'), 'utf8') : 0),
    /** The pids of the `all-hang` verifiers that have started hanging. */
    hanging: () => readdirSync(dir).filter((name) => name.startsWith('hanging-')).map((name) => Number(name.slice('hanging-'.length))),
  };
}

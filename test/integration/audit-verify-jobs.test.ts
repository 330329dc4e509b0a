import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
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

  const verify = (args: string[], env: Record<string, string> = {}) => runCli(['audit', 'verify', '--json', ...args], { ...t.env, ...env });

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
    expect(started.filter((argv) => argv.includes('--tenants-from'))).toHaveLength(2);
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
    const file = join(mkdtempSync(join(tmpdir(), 'confide-tenants-')), 'tenants.txt');
    writeFileSync(file, `${listed[0]}\n\n${listed[1]}\n${listed[0]}\n`);
    for (const jobs of ['1', '2']) {
      const result = verify(['--tenants-from', file, '--jobs', jobs]);
      expect(result.stderr).toBe('');
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
  // is locked per append), and 20,500 take half a minute there. The stretches' walk and seams are
  // held to one walk's report on both stores by access-log-segments.test.ts.
  it.runIf(dialect === 'sqlite')('walks a long chain in stretches, one per process, and reports it as one walk does', async () => {
    const long = await buildTenant(t);
    const cipher = await t.app.services.keyRing.cipherFor(long.tenantId);
    const entries = 2 * MIN_SEGMENT_ENTRIES + 500; // two stretches: 1–10,250 and 10,251–20,500
    for (let done = 0; done < entries; done += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, entries - done) }, (_, i) =>
          t.app.services.accessLog.appendDurably(long.tenantId, cipher, { actor: { type: 'member', id: long.userId }, action: 'read', resource: { type: 'record', collection: 'c', id: `r${done + i}` }, ip: '127.0.0.1' }),
        ),
      );
    }
    await t.app.services.checkpoints.checkpointNow(long.tenantId);
    const stretchSpy = processSpy();
    const one = verify(['--tenant', long.tenantId, '--jobs', '1']);
    const two = verify(['--tenant', long.tenantId, '--jobs', '2'], stretchSpy.env);
    expect(two.stderr).toBe('');
    expect(two.status).toBe(0);
    expect(JSON.parse(two.stdout)).toEqual(JSON.parse(one.stdout));
    expect(JSON.parse(two.stdout).tenants).toMatchObject([{ tenantId: long.tenantId, ok: true, entries, checkpoint: { seq: entries } }]);
    expect(stretchSpy.processes().filter((argv) => argv.includes('--tenants-from'))).toHaveLength(2);

    // Broken just after the seam: the process with the second stretch finds it, the command names it.
    const seam = entries / 2 + 1;
    await t.app.services.db.updateTable('access_log').set({ prev_hash: '0'.repeat(64) }).where('tenant_id', '=', long.tenantId).where('seq', '=', seam).execute();
    const brokenOne = verify(['--tenant', long.tenantId, '--jobs', '1']);
    const brokenTwo = verify(['--tenant', long.tenantId, '--jobs', '2']);
    expect(brokenTwo.status).toBe(1);
    expect(JSON.parse(brokenTwo.stdout)).toEqual(JSON.parse(brokenOne.stdout));
    expect(JSON.parse(brokenTwo.stdout).tenants[0]).toMatchObject({ ok: false, firstBadSeq: seam });
  }, 180_000);

  it('walks a stretch it is given, and refuses a line that is neither a tenant nor a stretch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-tenants-'));
    const [id] = [tenants[1]!.tenantId];
    writeFileSync(join(dir, 'stretch.txt'), `${id} 2 4 -\n`);
    const stretch = verify(['--tenants-from', join(dir, 'stretch.txt')]);
    expect(stretch.stderr).toBe('');
    expect(stretch.status).toBe(0);
    expect(JSON.parse(stretch.stdout)).toMatchObject({ ok: true, tenants: [], segments: [{ tenantId: id, fromSeq: 2, toSeq: 4, entries: 3, first: { seq: 2 }, lastSeq: 4, problems: [] }] });
    for (const line of [`${id} 4 2 -`, `${id} 1 2`, `${id} 0 2 -`, `${id} 1 2 x`]) {
      writeFileSync(join(dir, 'bad.txt'), `${line}\n`);
      const bad = verify(['--tenants-from', join(dir, 'bad.txt')]);
      expect(bad.status, line).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr.trim()).toBe(`confide: --tenants-from: ${JSON.stringify(line)} is neither a tenant id nor a stretch of a chain`);
    }
  });

  it('fails whole, naming why, when a verifier process cannot verify', () => {
    // The spy's preload makes every verifier process exit 3 at start (CONFIDE_TEST_BREAK_CHILD): the
    // command reports that, never a report made from what the other processes gave.
    const result = runCli(['audit', 'verify', '--json', '--jobs', '2'], { ...t.env, ...spy.env, CONFIDE_TEST_BREAK_CHILD: '1' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^confide: a verifier process failed \(exit \d+\)/);
  });
});

/**
 * A preload (NODE_OPTIONS, which child processes inherit) that writes each node process's
 * arguments to a file of its own: how the test sees which processes the command started. With
 * CONFIDE_TEST_BREAK_CHILD set, a process started to verify listed tenants exits 3 at once.
 */
function processSpy(): { dir: string; env: Record<string, string>; processes: () => string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'confide-spy-'));
  const preload = join(dir, 'spy.cjs');
  writeFileSync(
    preload,
    `const fs = require('node:fs');
fs.writeFileSync(${JSON.stringify(dir)} + '/argv-' + process.pid + '.json', JSON.stringify(process.argv.slice(2)));
if (process.env.CONFIDE_TEST_BREAK_CHILD && process.argv.includes('--tenants-from')) { process.stderr.write('confide: broken on purpose\\n'); process.exit(3); }
`,
  );
  return {
    dir,
    env: { NODE_OPTIONS: `--require ${preload}` },
    processes: () => readdirSync(dir).filter((name) => name.startsWith('argv-')).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as string[]),
  };
}

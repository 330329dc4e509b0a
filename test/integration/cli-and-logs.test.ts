import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../harness/run-cli.js';
import { freePort } from '../harness/free-port.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readRepoFile = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every CONFIDE_ variable named in the first cell of a table row of docs/configuration.md. */
function variablesInDocs(): string[] {
  return readRepoFile('docs/configuration.md')
    .split('\n')
    .filter((line) => line.startsWith('| `CONFIDE_'))
    .flatMap((line) => [...line.split(' | ')[0]!.matchAll(/CONFIDE_[A-Z0-9_]+/g)].map(([name]) => name));
}

describe('the confide command', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('prints the package version with --version', () => {
    const { version } = JSON.parse(readRepoFile('package.json')) as { version: string };
    const result = runCli(['--version'], {});
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  // Each command loads Fastify, Kysely and the drivers only when it runs. Measured here from source
  // through tsx (~0.45 s idle; 3-3.5 s when main.ts imported every command eagerly); the built
  // `node bin/confide.js --help` takes ~0.1 s. The best of three runs leaves room for a loaded machine.
  it('answers --help in well under 1.5 s', () => {
    const times: number[] = [];
    for (let run = 0; run < 3; run += 1) {
      const started = performance.now();
      const result = runCli(['--help'], {});
      times.push(performance.now() - started);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Usage: confide');
      expect(result.stdout).toContain('--version');
    }
    expect(Math.min(...times)).toBeLessThan(1_500);
  });

  it('lists every configuration variable of docs/configuration.md in `serve --help`, with its default', () => {
    const documented = variablesInDocs();
    expect(documented.length).toBeGreaterThan(30);
    const result = runCli(['serve', '--help'], {});
    expect(result.status).toBe(0);
    for (const name of documented) expect(result.stdout, name).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(result.stdout).toMatch(/^ {2}CONFIDE_PUBLIC_LISTEN +.*\(default: 127\.0\.0\.1:8443\)$/m);
  });

  it('says what to run, in one line and exit 1, when Confide has not been built', () => {
    // The real bin/confide.js, copied to a folder without dist/ (the shared dist/ stays as it is).
    const root = mkdtempSync(join(tmpdir(), 'confide-unbuilt-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'bin'));
    copyFileSync(join(ROOT, 'bin/confide.js'), join(root, 'bin/confide.js'));
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
    const result = spawnSync(process.execPath, [join(root, 'bin/confide.js'), 'serve'], { cwd: root, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^confide: .*run `npm run build` \(or `npm start`/);
    expect(result.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
  });

  describe('serve logs', () => {
    async function serve(env: Record<string, string> = {}): Promise<ServerProcess> {
      const root = mkdtempSync(join(tmpdir(), 'confide-serve-'));
      const server = await startServerProcess(
        { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), ...env },
        await freePort(),
      );
      cleanups.push(async () => {
        await killHard(server);
        rmSync(root, { recursive: true, force: true });
      });
      return server;
    }

    it('says "Confide is listening on https://…" as a JSON log line when stdout is not a terminal', async () => {
      const server = await serve();
      expect((await httpsJson(server.port, 'GET', '/healthz')).status).toBe(200);
      const lines = server.output().split('\n').filter((line) => line.includes('Confide is listening'));
      expect(lines).toHaveLength(1);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(entry).toMatchObject({ level: 30, service: 'confide', msg: `Confide is listening on https://127.0.0.1:${server.port}` });
      // Every line on stdout is JSON: nothing breaks a log collector's parsing.
      await expect.poll(() => server.output()).toContain('/healthz 200');
      for (const line of server.output().split('\n').filter((text) => text.startsWith('{') || text.includes('Confide'))) {
        expect(() => JSON.parse(line), line).not.toThrow();
      }
    });

    it('still says it, alone, above level info (CONFIDE_LOG_LEVEL=warn, as the bench and crash tests run)', async () => {
      const server = await serve({ CONFIDE_LOG_LEVEL: 'warn' });
      expect((await httpsJson(server.port, 'GET', '/healthz')).status).toBe(200);
      const entries = server
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((entry) => entry.level === 30)).toEqual([
        expect.objectContaining({ msg: `Confide is listening on https://127.0.0.1:${server.port}` }),
      ]);
    });

    it('writes readable lines with CONFIDE_LOG_FORMAT=pretty', async () => {
      const server = await serve({ CONFIDE_LOG_FORMAT: 'pretty' });
      expect((await httpsJson(server.port, 'GET', '/healthz?probe=1')).status).toBe(200);
      await expect.poll(() => server.output()).toMatch(/INFO: GET \/healthz 200 [\d.]+ ms/);
      expect(server.output()).toMatch(new RegExp(`^\\[\\d{2}:\\d{2}:\\d{2}\\.\\d{3}\\] INFO: Confide is listening on https://127\\.0\\.0\\.1:${server.port}$`, 'm'));
      expect(server.output()).not.toContain('"level":30');
      expect(server.output()).not.toContain('probe=1');
    });
  });
});

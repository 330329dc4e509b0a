import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/free-port.js';
import { killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { confideCommand } from '../harness/confide-command.js';

/*
 * README.md's "A short tour with curl", run as written against a real server, four times: in bash
 * and in zsh, each once as a script and once as if pasted into an interactive shell. The commands
 * come from README.md itself, so the README cannot drift from what works.
 *
 * Each run waits up to 30 s for a fresh TOTP step, so the runs go two at a time, on two servers:
 * on each server a second run follows the first (the tour run again, with new addresses). Two runs
 * never share a server at once: the tour takes the newest verification token in the outbox, which
 * another run's sign-up could be.
 *
 * Only two things are rewritten: the tour's https://127.0.0.1:8443 (and the admin listener's
 * https://127.0.0.1:9443, where the tour uses it) become this test's ports, and
 * `node bin/confide.js` runs the CLI from source through tsx, like the server under test
 * (startServerProcess), so both are the same code even when dist/ is stale or missing. The
 * script's environment points CONFIDE_DATA_DIR and CONFIDE_MASTER_KEY_FILE at a temp dir, never
 * ./confide-data. SQLite is enough: the tour exercises the HTTP API, which behaves the same on both.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOUR_HEADING = '## A short tour with curl';
const TOUR_ORIGIN = 'https://127.0.0.1:8443';
const TOUR_ADMIN_ORIGIN = 'https://127.0.0.1:9443';
const TOUR_CLI = 'node bin/confide.js';
const RUN_TIMEOUT_MS = 180_000; // a run waits up to 30 s for the next TOTP step; the rest is slow on a loaded machine

/** The first ```sh block under the tour heading, before the next heading; throws if there is none. */
function extractTour(readme: string): string {
  const start = readme.indexOf(`\n${TOUR_HEADING}\n`);
  if (start < 0) throw new Error(`README.md has no "${TOUR_HEADING}" section`);
  const section = readme.slice(start + TOUR_HEADING.length + 2).split(/^## /m)[0]!;
  const block = /^```sh\n([\s\S]*?)^```$/m.exec(section);
  if (!block) throw new Error(`README.md's "${TOUR_HEADING}" section has no \`\`\`sh block`);
  return block[1]!;
}

interface Run {
  name: string;
  shell: 'bash' | 'zsh';
  /** Interactive: the tour is fed on standard input, line by line, as a person pasting it. */
  pasted: boolean;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runTour(run: Run, script: string, scriptFile: string, env: Record<string, string>): Promise<RunResult> {
  const args = ['-e', '-o', 'pipefail', ...(run.pasted ? ['-i'] : [scriptFile])];
  // detached: the shell leads its own process group, so a timeout also ends its curl or node.
  const child = spawn(run.shell, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(run.pasted ? script : '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is already gone
      }
      reject(new Error(`${run.name}: still running after ${RUN_TIMEOUT_MS} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function parse(line: string): any {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/**
 * What a run must print, in this order (other lines may come between): each check finds the next
 * line of standard output that satisfies it.
 */
const EXPECTED: Array<[what: string, check: (line: string, json: any) => boolean]> = [
  ['sign-up: a new, unverified address of its own', (_, j) => /^alice\+\d+@example\.com$/.test(j?.user?.email) && j.user.emailVerified === false],
  ['e-mail verification: 204', (line) => line === '204'],
  ['/v1/me: the address is verified', (_, j) => j?.user?.emailVerified === true && j.role === 'owner'],
  ['the created record, read back', (_, j) => j?.data?.name === 'Bob' && j.data.dob === '1970-01-01' && j.version === 1],
  ['the record, updated', (_, j) => j?.data?.name === 'Bobby' && j.version === 2],
  ['the record in the list', (_, j) => j?.items?.some((r: any) => r.data?.name === 'Bobby')],
  ['the record in the list, read with the read-only API key', (_, j) => j?.items?.some((r: any) => r.data?.name === 'Bobby')],
  ['record deleted: 204', (line) => line === '204'],
  [
    'the access log: create, read, update, list, delete',
    (_, j) => ['create', 'read', 'update', 'list', 'delete'].every((action) => j?.items?.some((e: any) => e.action === action)),
  ],
  ['the access log verifies', (_, j) => j?.ok === true && j.firstBadSeq === null],
  ['the OpenAPI paths, with the two-step sign-in', (_, j) => Array.isArray(j) && j.includes('/v1/sessions/mfa')],
  ['TOTP confirmed with a real code: 10 recovery codes', (_, j) => j?.recoveryCodes?.length === 10],
  ['requireMfa on', (_, j) => j?.requireMfa === true],
  ['staff enrolment confirmed with a real code: 10 recovery codes', (_, j) => j?.recoveryCodes?.length === 10],
  ['/v1/me with the token from the second step: TOTP on', (_, j) => j?.user?.emailVerified === true && j.mfa?.totp === true],
  ['an invitation', (_, j) => typeof j?.id === 'string' && typeof j.expiresAt === 'string'],
  ['the pending invitation, listed', (_, j) => j?.items?.some((i: any) => i.email === 'bob@example.com')],
  ['the members', (_, j) => j?.items?.some((m: any) => m.role === 'owner' && m.mfa === true)],
  ['the settings: staff access needs approval', (_, j) => j?.requireMfa === true && j.staffAccess === 'approval_required'],
  ['a record for staff to read', (_, j) => j?.data?.name === 'Carol' && j.version === 1],
  [
    'the pending staff request, as the tenant sees it: who, what, why, how long',
    (_, j) =>
      j?.items?.length === 1 &&
      /^sam\+\d+@ops\.example$/.test(j.items[0].staff?.email) &&
      j.items[0].status === 'pending' &&
      j.items[0].scope === 'read' &&
      j.items[0].justification === 'CUSTOMER_INITIATED_SUPPORT' &&
      j.items[0].reason.length >= 20 &&
      j.items[0].ticket === 'SUP-1042' &&
      j.items[0].durationMinutes === 60,
  ],
  ['staff read the records under the approved grant', (_, j) => j?.items?.some((r: any) => r.data?.name === 'Carol')],
  [
    'the access log, staff entries only, each with its grant and justification',
    (_, j) =>
      j?.items?.length > 0 &&
      j.items.every((e: any) => e.actor?.type === 'staff' && typeof e.grantId === 'string' && e.justification === 'CUSTOMER_INITIATED_SUPPORT') &&
      j.items.some((e: any) => e.action === 'list'),
  ],
  ['the grant, revoked', (_, j) => typeof j?.id === 'string' && typeof j.revokedAt === 'string' && j.scope === 'read'],
  ['the next staff read: GRANT_REQUIRED, without customer data', (line, j) => j?.error?.code === 'GRANT_REQUIRED' && !line.includes('Carol')],
  ['the next staff read: 403', (line) => line === '403'],
  [
    'security events, the two-step sign-in and staff access among them',
    (_, j) =>
      [
        'signin.mfa',
        'mfa.totp.enabled',
        'apiKey.created',
        'tenant.settings.changed',
        'email.verified',
        'staff.access.requested',
        'staff.access.approved',
        'staff.grant.used',
        'staff.access.revoked',
      ].every((type) => j?.items?.some((e: any) => e.type === type && e.outcome === 'success')) &&
      j.items.some((e: any) => e.type === 'staff.grant.refused' && e.outcome === 'refused'),
  ],
  ['signed out: 204', (line) => line === '204'],
];

/** The first expectation that the output does not meet in order, or undefined when all are met. */
function firstUnmet(stdout: string): string | undefined {
  const lines = stdout.split('\n').map((line) => line.trim());
  let at = 0;
  for (const [what, check] of EXPECTED) {
    while (at < lines.length && !check(lines[at]!, parse(lines[at]!))) at += 1;
    if (at === lines.length) return what;
    at += 1;
  }
  return undefined;
}

/**
 * The grant ids in the staff entries of the access log, and the id of the grant the owner then
 * revoked: the tour must show the very grant it approved at work, then revoked.
 */
function staffGrants(stdout: string): { logged: string[]; revoked: string | undefined } {
  const answers = stdout.split('\n').map((line) => parse(line.trim()));
  const log = answers.find((j) => j?.items?.length > 0 && j.items.every((e: any) => e.actor?.type === 'staff'));
  const revoked = answers.find((j) => typeof j?.revokedAt === 'string');
  return { logged: [...new Set<string>(log?.items.map((e: any) => e.grantId))], revoked: revoked?.id };
}

/** A server of the tour and what runs against it: the script with its ports, and the shell's environment. */
interface Place {
  server: ServerProcess;
  script: string;
  scriptFile: string;
  shellEnv: Record<string, string>;
}

/** Starts a server in `root` and writes the tour for it. */
async function openPlace(root: string, tour: string): Promise<Place> {
  mkdirSync(root);
  const dirs = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY_FILE: join(root, 'keys', 'master.key') };
  const server = await startServerProcess(dirs, await freePort());
  const script = tour
    .replaceAll(TOUR_ORIGIN, `https://127.0.0.1:${server.port}`)
    .replaceAll(TOUR_ADMIN_ORIGIN, `https://127.0.0.1:${server.adminPort}`)
    .replaceAll(TOUR_CLI, ['node', ...confideCommand()].join(' '));
  const scriptFile = join(root, 'tour.sh');
  writeFileSync(scriptFile, script);
  // A home without start-up files: zsh would otherwise offer its new-user menu, and a person's
  // own .bashrc or .zshrc is no part of what the README promises.
  const home = join(root, 'home');
  mkdirSync(home);
  writeFileSync(join(home, '.zshrc'), '');
  // The CLI the tour runs sees the same configuration as the server (its admin port included).
  const shellEnv = { PATH: process.env.PATH ?? '', HOME: home, ZDOTDIR: home, TERM: 'dumb', ...dirs, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${server.adminPort}` };
  return { server, script, scriptFile, shellEnv };
}

describe('README tour (SQLite)', () => {
  const root = mkdtempSync(join(tmpdir(), 'confide-tour-'));
  const places: Place[] = [];
  /** The addresses signed up on each server. */
  const emails: string[][] = [[], []];

  beforeAll(async () => {
    const missing = ['bash', 'zsh', 'curl', 'jq'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).error);
    if (missing.length > 0) throw new Error(`the README tour needs ${missing.join(', ')}: apt-get install ${missing.join(' ')} (.ci/run does)`);

    const tour = extractTour(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(tour, 'the tour talks to the server npm start runs').toContain(TOUR_ORIGIN);
    expect(tour, 'the tour reads the outbox with the CLI').toContain(TOUR_CLI);
    places.push(...(await Promise.all(['one', 'two'].map((name) => openPlace(join(root, name), tour)))));
  });

  afterAll(async () => {
    await Promise.all(places.map((place) => killHard(place.server)));
    rmSync(root, { recursive: true, force: true });
  });

  // Server one: bash as a script, then zsh pasted; server two: bash pasted, then zsh as a script.
  const runs: Array<Run & { place: number }> = [
    { name: 'bash, as a script', shell: 'bash', pasted: false, place: 0 },
    { name: 'bash, pasted', shell: 'bash', pasted: true, place: 1 },
    { name: 'zsh, pasted', shell: 'zsh', pasted: true, place: 0 },
    { name: 'zsh, as a script', shell: 'zsh', pasted: false, place: 1 },
  ];
  /** The run now on each server: the next run there starts once it has ended, however it ended. */
  const busy: Array<Promise<unknown>> = [Promise.resolve(), Promise.resolve()];

  // The test context's `expect`: assertions of concurrent tests must name their own test.
  it.for(runs)('runs from top to bottom: $name', { concurrent: true, timeout: 2 * RUN_TIMEOUT_MS + 10_000 }, async (run, { expect }) => {
    const before = busy[run.place]!;
    const ran = before.then(() => runTour(run, places[run.place]!.script, places[run.place]!.scriptFile, places[run.place]!.shellEnv));
    busy[run.place] = ran.catch(() => undefined);
    const result = await ran;
    const { server } = places[run.place]!;
    const report = `${run.name}: exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}\nserver:\n${server.output().slice(-4000)}`;
    expect(result.code, report).toBe(0);
    expect(firstUnmet(result.stdout), report).toBeUndefined();
    const grants = staffGrants(result.stdout);
    expect(grants.logged, `the staff accesses name the grant that was then revoked\n${report}`).toEqual([grants.revoked]);
    const email = /"email":"(alice\+\d+@example\.com)"/.exec(result.stdout)?.[1];
    expect(emails[run.place], 'each run on a server signs up a new address').not.toContain(email);
    emails[run.place]!.push(email!);
  });
});

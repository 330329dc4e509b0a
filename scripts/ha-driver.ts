/**
 * The write load of scripts/ha-demo.sh: signs up once, then writes records over HTTPS alternating
 * between the Confide nodes while the demo kills the PostgreSQL primary, and afterwards reads back
 * every acknowledged record. Run by the demo (node --import tsx scripts/ha-driver.ts …), which
 * writes `<dir>/killed` (epoch ms) at the kill; the driver writes `<dir>/warm` once writes flow,
 * `<dir>/acknowledged.jsonl` as they are acknowledged and `<dir>/summary.json` at the end.
 *
 * A write counts once: a refused or failed request is never retried under the same id; the next
 * write is a new record. Only 201 answers are acknowledged; the id in the answer is what must
 * survive. Exit status 1: a lost write, a refusal other than a 503 in the contract's error shape,
 * or no acknowledged write after the kill.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    ports: { type: 'string' },
    'env-files': { type: 'string' },
    'after-seconds': { type: 'string', default: '25' },
    'writers-per-node': { type: 'string', default: '2' },
  },
});
const dir = values.dir!;
const ports = values.ports!.split(',').map(Number);
const envFiles = values['env-files']!.split(',');
const afterMs = Number(values['after-seconds']) * 1000;
const writersPerNode = Number(values['writers-per-node']);
const REQUEST_TIMEOUT_MS = 15_000;
const WARM_AFTER = 100; // acknowledged writes before the demo may kill the primary

const agent = new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 16 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => process.stderr.write(`[ha-driver] ${message}\n`);

interface Answer {
  status: number;
  body: any;
  network?: string;
}

/** One HTTPS request; a network failure or timeout is an answer too (status 0), never thrown. */
function call(port: number, method: string, path: string, body?: unknown, token?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON: kept as text, and counted out of contract below.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: undefined, network: error.code ?? error.message }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: undefined, network: error.code ?? error.message }));
    if (payload) req.write(payload);
    req.end();
  });
}

function envOf(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

/** Confirms the owner's address from whichever node's encrypted outbox the mail worker wrote it to. */
async function verifyEmail(email: string): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    for (const file of envFiles) {
      const listed = spawnSync(process.execPath, ['bin/confide.js', 'mail', 'outbox', '--json'], { env: envOf(file), encoding: 'utf8' });
      if (listed.status !== 0) throw new Error(`confide mail outbox failed: ${listed.stderr}`);
      const messages = (JSON.parse(listed.stdout) as { messages: Array<{ to: string; text: string }> }).messages;
      const token = messages.filter((m) => m.to.includes(email)).flatMap((m) => m.text.match(/cfv_[A-Za-z0-9_-]{43}/g) ?? [])[0];
      if (token) {
        const confirmed = await call(ports[0]!, 'POST', '/v1/email-verifications/confirm', { token });
        if (confirmed.status !== 204) throw new Error(`verification refused: ${JSON.stringify(confirmed.body)}`);
        return;
      }
    }
    await sleep(250);
  }
  throw new Error(`no verification e-mail to ${email}`);
}

async function signUp(): Promise<string> {
  const email = `ha-owner-${Date.now()}@example.test`;
  const password = `ha-demo-${Math.random().toString(36).slice(2)}-harbour-lantern`;
  const signup = await call(ports[0]!, 'POST', '/v1/signup', { organization: 'HA demo', email, password });
  if (signup.status !== 201) throw new Error(`sign-up answered ${signup.status}: ${JSON.stringify(signup.body)}`);
  const session = await call(ports[0]!, 'POST', '/v1/sessions', { email, password });
  if (session.status !== 201) throw new Error(`sign-in answered ${session.status}: ${JSON.stringify(session.body)}`);
  await verifyEmail(email);
  return session.body.token as string;
}

/**
 * What the contract promises while no primary answers: 503 (UNAVAILABLE, or AUDIT_UNAVAILABLE when
 * the access log's append is what failed) in its error body {"error": {"code", "message",
 * "requestId", "details"?}}. A 500, a dropped connection or a timeout is out of contract.
 */
function inContract(answer: Answer): boolean {
  const error = answer.body?.error;
  return answer.status === 503 && typeof error?.code === 'string' && typeof error.message === 'string' && typeof error.requestId === 'string';
}

interface Write {
  startedAt: number;
  endedAt: number;
  answer: Answer;
}

const token = await signUp();
log('signed up; writing');
const acknowledged = new Map<string, unknown>();
const refusals: Write[] = [];
const acks: Write[] = [];
let killedAt: number | undefined;
let stop = false;

async function writer(port: number, w: number): Promise<void> {
  for (let i = 0; !stop; i += 1) {
    const data = { writer: w, i, nonce: Math.random().toString(36).slice(2) };
    const startedAt = Date.now();
    const answer = await call(port, 'POST', '/v1/collections/ha/records', data, token);
    const write = { startedAt, endedAt: Date.now(), answer };
    if (answer.status === 201) {
      acknowledged.set(answer.body.id, data);
      acks.push(write);
      appendFileSync(join(dir, 'acknowledged.jsonl'), `${JSON.stringify({ id: answer.body.id, at: write.endedAt })}\n`);
    } else {
      refusals.push(write);
      await sleep(100); // a refused client backs off a little, as a real one would
    }
  }
}

const writers = ports.flatMap((port, n) => Array.from({ length: writersPerNode }, (_, w) => writer(port, n * 100 + w)));
while (acknowledged.size < WARM_AFTER) await sleep(50);
writeFileSync(join(dir, 'warm.tmp'), '');
renameSync(join(dir, 'warm.tmp'), join(dir, 'warm'));
while (killedAt === undefined) {
  if (existsSync(join(dir, 'killed'))) killedAt = Number(readFileSync(join(dir, 'killed'), 'utf8'));
  else await sleep(20);
}
log(`the primary was killed; writing for ${afterMs / 1000} s more`);
while (Date.now() < killedAt + afterMs) await sleep(100);
stop = true;
await Promise.all(writers);

// Every acknowledged record, read back through the nodes (so through HAProxy to the new primary).
const lost: string[] = [];
const ids = [...acknowledged.keys()];
for (let start = 0; start < ids.length; start += 16) {
  await Promise.all(
    ids.slice(start, start + 16).map(async (id, k) => {
      for (let attempt = 0; ; attempt += 1) {
        const read = await call(ports[k % ports.length]!, 'GET', `/v1/collections/ha/records/${id}`, undefined, token);
        if (read.status === 200 && JSON.stringify(read.body.data) === JSON.stringify(acknowledged.get(id))) return;
        if (read.status === 404 || read.status === 200 || attempt === 10) {
          lost.push(id);
          return;
        }
        await sleep(500);
      }
    }),
  );
}

const firstBack = acks.filter((a) => a.startedAt >= killedAt!).sort((a, b) => a.endedAt - b.endedAt)[0];
const gap = refusals.filter((r) => r.endedAt >= killedAt!);
const answered: Record<string, number> = {};
for (const r of refusals) {
  const key = r.answer.status === 0 ? `network ${r.answer.network}` : `${r.answer.status} ${r.answer.body?.error?.code ?? '(no error code)'}`;
  answered[key] = (answered[key] ?? 0) + 1;
}
const outOfContract = refusals.filter((r) => !inContract(r.answer));
const summary = {
  acknowledged: acknowledged.size,
  acknowledgedBeforeKill: acks.filter((a) => a.endedAt < killedAt!).length,
  acknowledgedAfterKill: acks.filter((a) => a.startedAt >= killedAt!).length,
  serviceBackSeconds: firstBack ? (firstBack.endedAt - killedAt) / 1000 : null,
  refused: refusals.length,
  refusedAfterKill: gap.length,
  answered,
  outOfContract: outOfContract.length,
  outOfContractSample: outOfContract.slice(0, 3).map((r) => ({ status: r.answer.status, network: r.answer.network, body: r.answer.body })),
  readBack: ids.length - lost.length,
  lost: lost.length,
  lostSample: lost.slice(0, 5),
};
writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2));
log(JSON.stringify(summary));
agent.destroy();
process.exit(lost.length === 0 && outOfContract.length === 0 && firstBack ? 0 : 1);

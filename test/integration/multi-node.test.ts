import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { buildStaff, type TestStaff } from '../harness/staff.js';
import { freePort } from '../harness/free-port.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { runCli } from '../harness/run-cli.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';

/*
 * Issue 12, part 5: three real `confide serve` processes, each with its own data directory and
 * ports, on one PostgreSQL schema with one master key and one tenant key directory, behave as one
 * service. The in-process app only prepares the database (its workers never run) and reads it
 * afterwards; every request under test goes to the processes, spread over them.
 */

const ONCALL = 'oncall@ops.example';
const ATTACKER = '198.51.100.77';
const NODES = 3;
const WRITERS_PER_NODE = 4;
const LOAD_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe.skipIf(!DIALECTS.includes('postgres'))('three nodes on one PostgreSQL', () => {
  let t: TestApp;
  let keyDir: string;
  let owner: TestTenant;
  let rotating: TestTenant;
  let staff: TestStaff;
  const nodes: ServerProcess[] = [];
  const envs: Array<Record<string, string>> = [];

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'confide-tenant-keys-'));
    t = await createTestApp('postgres', {
      smtp: true,
      env: {
        CONFIDE_TENANT_KEY_DIR: keyDir,
        CONFIDE_ALERT_EMAILS: ONCALL,
        // Heads are signed while the writers write, by whichever node gets there first.
        CONFIDE_CHECKPOINT_ENTRIES: '100',
        CONFIDE_CHECKPOINT_SECONDS: '10',
        // Small batches: the load's re-encryption takes several, each adding its count to values_done.
        CONFIDE_REENCRYPT_BATCH: '200',
        CONFIDE_REENCRYPT_PAUSE_MS: '50',
      },
    });
    owner = await buildTenant(t);
    rotating = await buildTenant(t);
    for (let i = 0; i < 3; i += 1) await buildRecord(t, rotating, 'notes');
    // One condition for the monitor, there before any node starts: credential stuffing from one address.
    for (let i = 0; i < 25; i += 1) {
      const attempt = await t.request({ method: 'POST', url: '/v1/sessions', remoteAddress: ATTACKER, payload: { email: `victim-${i}@example.net`, password: 'Winter2026!' } });
      expect(attempt.statusCode).toBe(401);
    }
    await t.app.services.securityEvents.flush();
    staff = await buildStaff(t, { role: 'support' });

    const started = await Promise.all(
      Array.from({ length: NODES }, async (_, n) => {
        const env = { ...t.env, CONFIDE_DATA_DIR: mkdtempSync(join(tmpdir(), `confide-node-${n}-`)), CONFIDE_LOG_LEVEL: 'warn' };
        return { env, node: await startServerProcess(env, await freePort()) };
      }),
    );
    for (const { env, node } of started) {
      envs.push(env);
      nodes.push(node);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((node) => killHard(node)));
    for (const env of envs) rmSync(env.CONFIDE_DATA_DIR!, { recursive: true, force: true });
    await t?.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  const db = () => t.app.services.db;
  const mailsTo = (address: string) => t.smtp!.received.filter((mail) => mail.to.includes(address));
  const queueEmpty = async () => Number((await db().selectFrom('mail_queue').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n) === 0;

  it('the monitor raises one alert for one condition, e-mailed once, not once per node', { timeout: 60_000 }, async () => {
    await waitUntil('the alert e-mail', async () => mailsTo(ONCALL).some((mail) => bodyOf(mail).includes('credential-stuffing')));
    const alerts = await db().selectFrom('alerts').select(['occurrences', 'state']).where('rule', '=', 'credential-stuffing').execute();
    // Each evaluation of an open alert's condition counts one occurrence: three nodes evaluating would make 3.
    expect(alerts).toEqual([{ occurrences: 1, state: 'open' }]);
    const lease = await db().selectFrom('worker_leases').select('holder').where('name', '=', 'monitor').execute();
    expect(lease).toHaveLength(1);
    await waitUntil('an empty mail queue', queueEmpty);
    await sleep(1_000);
    expect(mailsTo(ONCALL).filter((mail) => bodyOf(mail).includes('credential-stuffing'))).toHaveLength(1);
  });

  it('a mail queued once is delivered once, whichever nodes poll the queue', { timeout: 60_000 }, async () => {
    const addresses = Array.from({ length: 4 * NODES }, (_, i) => `signup-${i}-${randomBytes(4).toString('hex')}@example.test`);
    const signups = await Promise.all(
      addresses.map((email, i) =>
        httpsJson(nodes[i % NODES]!.port, 'POST', '/v1/signup', { organization: `Org ${i}`, email, password: `quiet-${randomBytes(5).toString('hex')}-harbour` }),
      ),
    );
    expect(signups.map((s) => s.status)).toEqual(addresses.map(() => 201));
    await waitUntil('every verification e-mail', async () => addresses.every((address) => mailsTo(address).length > 0));
    await waitUntil('an empty mail queue', queueEmpty);
    await sleep(6_000); // one more poll of every node: a second delivery would have happened by now
    expect(addresses.map((address) => mailsTo(address).length)).toEqual(addresses.map(() => 1));
  });

  it('keeps one tenant’s access log gapless and verifiable under concurrent writers on every node', { timeout: 90_000 }, async () => {
    const acknowledged: string[] = [];
    const refused: number[] = [];
    let stop = false;
    const writer = async (port: number, w: number) => {
      for (let i = 0; !stop; i += 1) {
        const created = await httpsJson(port, 'POST', '/v1/collections/load/records', { w, i }, owner.token);
        if (created.status === 201) acknowledged.push(created.body.id);
        else refused.push(created.status);
      }
    };
    const writers = nodes.flatMap((node, n) => Array.from({ length: WRITERS_PER_NODE }, (_, w) => writer(node.port, n * 100 + w)));
    await sleep(LOAD_MS);
    stop = true;
    await Promise.all(writers);
    expect(refused).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(50);

    const seqs = (await db().selectFrom('access_log').select('seq').where('tenant_id', '=', owner.tenantId).orderBy('seq').execute()).map((row) => Number(row.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const stored = new Set((await db().selectFrom('records').select('id').where('tenant_id', '=', owner.tenantId).execute()).map((row) => row.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);

    // Heads signed during the load (one checkpoint per seq is the table's key) verify with the chain.
    await waitUntil('a checkpoint of the load', async () => ((await t.app.services.checkpoints.latest(owner.tenantId))?.seq ?? 0) >= 100);
    const verified = runCli(['audit', 'verify', '--tenant', owner.tenantId, '--json'], envs[1]!);
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, tenants: [{ tenantId: owner.tenantId, ok: true, entries: seqs.length }] });
  });

  it('a session made on one node works on the others, and a sign-out on one ends it on all at once', { timeout: 30_000 }, async () => {
    const [a, b, c] = nodes.map((node) => node.port) as [number, number, number];
    const session = await httpsJson(a, 'POST', '/v1/sessions', { email: owner.email, password: owner.password });
    expect(session.status).toBe(201);
    for (const port of [b, c]) expect((await httpsJson(port, 'GET', '/v1/me', undefined, session.body.token)).status).toBe(200);
    expect((await httpsJson(a, 'DELETE', '/v1/sessions/current', undefined, session.body.token)).status).toBe(204);
    for (const port of [b, c]) expect((await httpsJson(port, 'GET', '/v1/me', undefined, session.body.token)).status).toBe(401);
  });

  it('an API key revoked on one node is refused by the others on the very next request', { timeout: 30_000 }, async () => {
    const [a, b, c] = nodes.map((node) => node.port) as [number, number, number];
    const created = await httpsJson(a, 'POST', '/v1/api-keys', { name: 'multi-node', scope: 'read' }, owner.token);
    expect(created.status).toBe(201);
    const list = '/v1/collections/load/records?limit=1';
    for (const port of [b, c]) expect((await httpsJson(port, 'GET', list, undefined, created.body.key)).status).toBe(200);
    expect((await httpsJson(a, 'DELETE', `/v1/api-keys/${created.body.id}`, undefined, owner.token)).status).toBe(204);
    for (const port of [a, b, c]) expect((await httpsJson(port, 'GET', list, undefined, created.body.key)).status).toBe(401);
  });

  it('a staff member disabled from the host is refused by every node at once', { timeout: 60_000 }, async () => {
    for (const node of nodes) expect((await httpsJson(node.adminPort, 'GET', '/admin/v1/me', undefined, staff.token)).status).toBe(200);
    const disabled = runCli(['staff', 'disable', '--email', staff.email], envs[0]!);
    expect(disabled.status, disabled.stderr).toBe(0);
    for (const node of nodes) expect((await httpsJson(node.adminPort, 'GET', '/admin/v1/me', undefined, staff.token)).status).toBe(401);
  });

  it('a key rotated on one node is opened by the others at once', { timeout: 30_000 }, async () => {
    const [a, b, c] = nodes.map((node) => node.port) as [number, number, number];
    // B and C hold the tenant's keys before the rotation (a read caches them): they must not need to reload them.
    const before = await httpsJson(a, 'POST', '/v1/collections/notes/records', { before: 'rotation' }, rotating.token);
    for (const port of [b, c]) expect((await httpsJson(port, 'GET', `/v1/collections/notes/records/${before.body.id}`, undefined, rotating.token)).status).toBe(200);
    const rotated = await httpsJson(a, 'POST', '/v1/tenant/keys/rotate', undefined, rotating.token);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(202);
    const created = await httpsJson(a, 'POST', '/v1/collections/notes/records', { after: 'rotation' }, rotating.token);
    expect(created.status).toBe(201);
    for (const port of [b, c]) {
      const read = await httpsJson(port, 'GET', `/v1/collections/notes/records/${created.body.id}`, undefined, rotating.token);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.data).toEqual({ after: 'rotation' });
    }
  });

  it('a re-encryption job runs once, on one node, though every node polls for it', { timeout: 90_000 }, async () => {
    const rotated = await httpsJson(nodes[1]!.port, 'POST', '/v1/tenant/keys/rotate', undefined, owner.token);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(202);
    // Nothing touches the tenant until the job is done, so the values it walks are exactly those it counted.
    const job = () => db().selectFrom('key_rotations').selectAll().where('id', '=', rotated.body.rotation.id).executeTakeFirstOrThrow();
    const done = await waitUntil('the re-encryption job done', async () => ((await job()).state === 'done' ? job() : undefined), 75_000);
    // Open for longer than the destruction grace (6 s): every node's worker polled for it several times (every 2 s).
    expect(Date.parse(done.finished_at!) - Date.parse(done.started_at)).toBeGreaterThan(4_000);
    expect(Number(done.values_done)).toBe(Number(done.values_total));
    const destroyed = () =>
      db().selectFrom('security_events').select('id').where('type', '=', 'keys.version.destroyed').where('tenant_id', '=', owner.tenantId).execute();
    await waitUntil('the destruction event stored', async () => (await destroyed()).length > 0);
    await sleep(3_000); // past another poll of every node's worker
    expect(await destroyed()).toHaveLength(1);
    expect(await db().selectFrom('worker_leases').select('holder').where('name', '=', 'key-reencryption').execute()).toHaveLength(1);
  });
});

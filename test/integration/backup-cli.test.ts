import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, type TestDialect } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { runCli, spawnCli } from '../harness/run-cli.js';
import { httpsJson, killHard, startServerProcess, verifyEmailThroughOutbox, type ServerProcess } from '../harness/server-process.js';

const PASSWORD = 'a-long-and-unusual-passphrase';

/** `confide …` without blocking this process: the writers keep writing while it runs. */
function runCliAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const servers: ServerProcess[] = [];
const roots: string[] = [];
const drops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await killHard(server);
  for (const drop of drops.splice(0)) await drop().catch(() => {});
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

async function deployment(dialect: TestDialect, target: string, masterKey: string): Promise<Record<string, string>> {
  const root = mkdtempSync(join(tmpdir(), 'confide-backup-cli-'));
  roots.push(root);
  const schema = dialect === 'postgres' ? await freshPostgresSchema() : undefined;
  if (schema) drops.push(() => schema.drop());
  return { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_TENANT_KEY_DIR: join(root, 'tenant-keys'), CONFIDE_MASTER_KEY: masterKey, CONFIDE_BACKUP_TARGET: target, ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}) };
}

async function serve(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess(env, await freePort());
  servers.push(server);
  return server;
}

describe.each(DIALECTS)('confide backup on %s', (dialect) => {
  it('backs up while a writer writes; the restored copy starts and serves every record acknowledged before the backup began; verify, list, refusals', { timeout: 300_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const masterKey = randomBytes(32).toString('base64');
    const env = await deployment(dialect, target, masterKey);
    const server = await serve(env);
    const email = 'backup@example.test';
    expect((await httpsJson(server.port, 'POST', '/v1/signup', { organization: 'Backup Co', email, password: PASSWORD })).status).toBe(201);
    await verifyEmailThroughOutbox(server.port, env, email);
    const token = (await httpsJson(server.port, 'POST', '/v1/sessions', { email, password: PASSWORD })).body.token as string;

    const acked: Array<{ id: string; data: unknown; at: number }> = [];
    let stop = false;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n += 1) {
        const data = { w, n, note: randomBytes(16).toString('hex') };
        const response = await httpsJson(server.port, 'POST', '/v1/collections/notes/records', data, token);
        if (response.status === 201) acked.push({ id: response.body.id as string, data, at: Date.now() });
      }
    };
    const writers = [writer(0), writer(1)];
    while (acked.length < 30) await new Promise((resolve) => setTimeout(resolve, 50));
    const startedAt = Date.now();
    const before = acked.filter((record) => record.at < startedAt);
    const created = await runCliAsync(['backup', 'create', '--json'], env);
    const ackedDuring = acked.length - before.length;
    stop = true;
    await Promise.all(writers);
    expect(created.status, created.stderr).toBe(0);
    expect(ackedDuring).toBeGreaterThan(0); // the writers really wrote while the backup ran
    const { id, manifest } = JSON.parse(created.stdout) as { id: string; manifest: { tenants: number; source: { dialect: string } } };
    expect(manifest).toMatchObject({ tenants: 1, source: { dialect } });

    const verified = runCli(['backup', 'verify', '--json'], env);
    expect(verified.status, verified.stderr).toBe(0);
    expect((JSON.parse(verified.stdout) as { checks: Array<{ name: string; ok: boolean }> }).checks.find((c) => c.name === 'sentinel')).toEqual({ name: 'sentinel', ok: true });
    const listed = JSON.parse(runCli(['backup', 'list', '--json'], env).stdout) as { backups: Array<{ id: string; verified: string | null }> };
    expect(listed.backups.map((b) => [b.id, Boolean(b.verified)])).toEqual([[id, true]]);
    await killHard(server);

    const fresh = await deployment(dialect, target, masterKey);
    const restored = runCli(['backup', 'restore', '--latest', '--json'], fresh);
    expect(restored.status, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ id, tenants: { restored: 1, deleted: [] } });
    const again = runCli(['backup', 'restore', '--id', id], fresh);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^confide: the restore target is not empty \(table system_meta, .*\): restore into an empty data directory and database, or pass --force to empty it first\n$/);
    const wrongKey = runCli(['backup', 'restore', '--latest'], { ...(await deployment(dialect, target, masterKey)), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(wrongKey.status).toBe(1);
    expect(wrongKey.stderr).toMatch(new RegExp(`^confide: backup ${id} was made under master key [0-9a-f]{16}; the configured master key from CONFIDE_MASTER_KEY is [0-9a-f]{16}: configure the master key the backup was made with\\n$`));

    const copy = await serve(fresh);
    for (const record of before) {
      const read = await httpsJson(copy.port, 'GET', `/v1/collections/notes/records/${record.id}`, undefined, token);
      expect(read.status).toBe(200);
      expect(read.body.data).toEqual(record.data);
    }
    const audit = runCli(['audit', 'verify', '--json'], fresh);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true });

    // A damaged archive: verify names the backup and what is wrong, and exits 1.
    const file = join(target, 'backups', `${id}.cbk`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(file, bytes);
    const damaged = runCli(['backup', 'verify', '--id', id], fresh);
    expect(damaged.status).toBe(1);
    expect(damaged.stderr).toMatch(new RegExp(`^confide: backup ${id} failed verification: archive: backup ${id} is damaged: chunk \\d+ of the archive does not authenticate`));
    expect(readdirSync(join(target, 'backups')).sort()).toEqual([`${id}.cbk`, `${id}.manifest`, `${id}.verified`]);

    // A restore killed part-way leaves its marker: serve refuses to start on the half-loaded place.
    const interrupted = await deployment(dialect, target, masterKey);
    mkdirSync(interrupted.CONFIDE_DATA_DIR!, { recursive: true, mode: 0o700 });
    writeFileSync(join(interrupted.CONFIDE_DATA_DIR!, 'restore-in-progress.json'), JSON.stringify({ id, startedAt: new Date().toISOString() }));
    const refused = runCli(['serve'], interrupted);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^confide: a restore of backup ${id} into \\S+ did not finish \\(.*\\): its database may be half loaded; run \`confide backup restore --id ${id} --force\` again\\n$`));
  });
});

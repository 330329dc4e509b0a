import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DIALECTS, freshPostgresSchema, postgresBaseUrl, type PostgresSchema, type TestDialect } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * One deployment on disk (data directory, key directory, and on PostgreSQL a schema of its own) that
 * the test starts, stops, backs up and restores. A backup is what an operator makes: on SQLite a
 * copy of the data directory with the server stopped; on PostgreSQL `pg_dump` of its schema,
 * restored with `pg_restore` after dropping the schema.
 */
class Deployment {
  readonly root = mkdtempSync(join(tmpdir(), 'confide-shred-'));
  readonly dataDir = join(this.root, 'data');
  readonly keyDir = join(this.root, 'keys');
  private readonly backup = join(this.root, 'backup');

  readonly env: Record<string, string>;

  constructor(
    readonly dialect: TestDialect,
    private readonly schema: PostgresSchema | undefined,
    env: (paths: { root: string; keyDir: string }) => Record<string, string>,
  ) {
    this.env = { CONFIDE_DATA_DIR: this.dataDir, ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}), ...env({ root: this.root, keyDir: this.keyDir }) };
  }

  static async create(dialect: TestDialect, env: (paths: { root: string; keyDir: string }) => Record<string, string>): Promise<Deployment> {
    return new Deployment(dialect, dialect === 'postgres' ? await freshPostgresSchema() : undefined, env);
  }

  /** The same database and keys, started with other settings. */
  withEnv(extra: Record<string, string>): Deployment {
    const other = new Deployment(this.dialect, this.schema, () => ({ ...this.env, ...extra }));
    rmSync(other.root, { recursive: true, force: true });
    return other;
  }

  start(): Promise<TestApp> {
    return createTestApp(this.dialect, { env: this.env, smtp: true });
  }

  backUp(): void {
    if (!this.schema) return cpSync(this.dataDir, this.backup, { recursive: true });
    this.pg('pg_dump', ['--format=custom', `--schema=${this.schema.schema}`, `--file=${this.backup}`, postgresBaseUrl()]);
  }

  async restore(): Promise<void> {
    if (!this.schema) {
      rmSync(this.dataDir, { recursive: true, force: true });
      return cpSync(this.backup, this.dataDir, { recursive: true });
    }
    await this.schema.drop();
    this.pg('pg_restore', ['--no-owner', `--dbname=${postgresBaseUrl()}`, this.backup]);
  }

  /** What an attacker with the database (a plain dump on PostgreSQL; the files on SQLite) and the key directory would hold. */
  plaintextHolding(canary: string): string[] {
    const dump = this.schema ? [this.pg('pg_dump', ['--format=plain', `--schema=${this.schema.schema}`, postgresBaseUrl()])] : [];
    const files = filesUnder(this.root).filter((file) => readFileSync(file).includes(canary));
    return [...files, ...dump.filter((text) => text.includes(canary)).map(() => 'pg_dump of the restored schema')];
  }

  private pg(command: string, args: string[]): string {
    const result = spawnSync(join(inject('postgresBinDir')!, command), args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
    return result.stdout;
  }

  cleanUp(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

const deployments: Deployment[] = [];
const apps: TestApp[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close().catch(() => {});
  for (const deployment of deployments.splice(0)) deployment.cleanUp();
});

async function started(deployment: Deployment): Promise<TestApp> {
  const t = await deployment.start();
  apps.push(t);
  return t;
}

async function stop(t: TestApp): Promise<void> {
  apps.splice(apps.indexOf(t), 1);
  await t.close();
}

const readRecord = (t: TestApp, tenant: TestTenant, id: string) => t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: tenant.token });

describe.each(DIALECTS)('crypto-shredding on %s', (dialect) => {
  /** The default: a master key file, and tenants' keys in the `tenants` folder beside it. */
  const withKeyFile = async () => {
    const deployment = await Deployment.create(dialect, ({ keyDir }) => ({ CONFIDE_MASTER_KEY: '', CONFIDE_MASTER_KEY_FILE: join(keyDir, 'master.key') }));
    deployments.push(deployment);
    return deployment;
  };

  it('copy the database, delete the tenant, restore the copy, start: its values do not decrypt, the canary is nowhere in plaintext, other tenants are intact', { timeout: 120_000 }, async () => {
    const deployment = await withKeyFile();
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    let t = await started(deployment);
    const gone = await buildTenant(t);
    const goneRecord = await buildRecord(t, gone, 'patients', { note: canary });
    const kept = await buildTenant(t);
    const keptRecord = await buildRecord(t, kept, 'patients', { note: 'bravo' });
    expect((await readRecord(t, gone, goneRecord.id)).json().data).toEqual({ note: canary }); // it is there to be found
    expect(existsSync(join(deployment.keyDir, 'tenants', `${gone.tenantId}.kek`))).toBe(true);
    await stop(t);
    deployment.backUp();

    t = await started(deployment);
    const fresh = await signIn(t, gone.email, gone.password);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: fresh.token, payload: { confirm: gone.tenantId } });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json().shredded).toBe(true);
    await stop(t);

    await deployment.restore();
    t = await started(deployment);
    // The copy brought the tenant's rows back (its old session still authenticates), but not its key.
    const restored = await t.app.services.db.selectFrom('records').select('id').where('tenant_id', '=', gone.tenantId).execute();
    expect(restored.map((row) => row.id)).toEqual([goneRecord.id]);
    const refused = await readRecord(t, gone, goneRecord.id);
    expect(refused.statusCode, refused.body).toBe(410);
    expect(errorCode(refused)).toBe('TENANT_DELETED');
    expect(refused.body).not.toContain(canary);
    await expect(t.app.services.keyRing.cipherFor(gone.tenantId)).rejects.toMatchObject({ code: 'TENANT_DELETED' });
    // The server goes on serving everyone else.
    const other = await readRecord(t, kept, keptRecord.id);
    expect(other.statusCode, other.body).toBe(200);
    expect(other.json().data).toEqual({ note: 'bravo' });
    expect(t.logs.join('')).not.toContain(canary);
    await stop(t);
    expect(deployment.plaintextHolding(canary)).toEqual([]);
  });

  it('without a tenant key store, a restored copy plus the master key still reads a deleted tenant: why the answer says shredded: false', { timeout: 120_000 }, async () => {
    const deployment = await Deployment.create(dialect, () => ({ CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') }));
    deployments.push(deployment);
    let t = await started(deployment);
    const gone = await buildTenant(t);
    const record = await buildRecord(t, gone, 'patients', { note: 'not shredded' });
    await stop(t);
    deployment.backUp();
    t = await started(deployment);
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: (await signIn(t, gone.email, gone.password)).token, payload: { confirm: gone.tenantId } });
    expect(deleted.json().shredded).toBe(false);
    await stop(t);
    await deployment.restore();
    t = await started(deployment);
    const read = await readRecord(t, gone, record.id);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json().data).toEqual({ note: 'not shredded' });
  });

  it('moves tenants made before the store existed under a key of their own at start, and can then shred them', { timeout: 120_000 }, async () => {
    const masterKey = randomBytes(32).toString('base64');
    const plain = await Deployment.create(dialect, () => ({ CONFIDE_MASTER_KEY: masterKey }));
    deployments.push(plain);
    let t = await started(plain);
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { note: 'older than the store' });
    const wrappedBy = async () => (await t.app.services.db.selectFrom('key_ring').select(['owner', 'wrapped_by']).orderBy('owner').execute()).map((row) => `${row.owner === tenant.tenantId ? 'tenant' : row.owner}:${row.wrapped_by}`).sort();
    expect(await wrappedBy()).toEqual(['system:master', 'system:master', 'tenant:master']);
    await stop(t);

    const tenantKeyDir = join(plain.root, 'tenant-keys');
    t = await plain.withEnv({ CONFIDE_TENANT_KEY_DIR: tenantKeyDir }).start();
    apps.push(t);
    expect(existsSync(join(tenantKeyDir, `${tenant.tenantId}.kek`))).toBe(true);
    expect(await wrappedBy()).toEqual(['system:master', 'system:master', 'tenant:tenant']);
    expect((await readRecord(t, tenant, record.id)).json().data).toEqual({ note: 'older than the store' });
    const deleted = await t.request({ method: 'DELETE', url: '/v1/tenant', token: (await signIn(t, tenant.email, tenant.password)).token, payload: { confirm: tenant.tenantId } });
    expect(deleted.json().shredded).toBe(true);
    expect(existsSync(join(tenantKeyDir, `${tenant.tenantId}.kek`))).toBe(false);
  });

  it('confide tenants delete: refuses without confirmation, then shreds with --yes and prints the final checkpoint', { timeout: 120_000 }, async () => {
    const deployment = await withKeyFile();
    let t = await started(deployment);
    const tenant = await buildTenant(t);
    await buildRecord(t, tenant);
    await stop(t);
    const kek = join(deployment.keyDir, 'tenants', `${tenant.tenantId}.kek`);

    const unconfirmed = runCli(['tenants', 'delete', '--tenant', tenant.tenantId], deployment.env);
    expect(unconfirmed.status).toBe(1);
    expect(unconfirmed.stderr).toContain('pass --yes');
    expect(existsSync(kek)).toBe(true);
    const unknown = runCli(['tenants', 'delete', '--tenant', 'no-such-tenant', '--yes'], deployment.env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no tenant no-such-tenant');

    const done = runCli(['tenants', 'delete', '--tenant', tenant.tenantId, '--yes', '--json'], deployment.env);
    expect(done.status, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout);
    expect(result).toMatchObject({ tenantId: tenant.tenantId, shredded: true, usersRemoved: 1 });
    expect(result.finalCheckpoint.signature).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(existsSync(kek)).toBe(false);

    t = await started(deployment);
    expect((await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: tenant.password } })).statusCode).toBe(401);
    const event = await t.app.services.db.selectFrom('security_events').select(['type', 'actor_type', 'actor_id']).where('tenant_id', '=', tenant.tenantId).execute();
    expect(event).toEqual([{ type: 'tenant.deleted', actor_type: 'operator', actor_id: expect.stringMatching(/^host:/) }]);
  });
});

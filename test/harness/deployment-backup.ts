import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, inject } from 'vitest';
import { errorCode, type TestTenant } from './builders.js';
import { freshPostgresSchema, postgresBaseUrl, type PostgresSchema, type TestDialect } from './dialects.js';
import { createTestApp, type TestApp } from './test-app.js';

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
export class Deployment {
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

const readPatient = (t: TestApp, tenant: TestTenant, id: string) => t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: tenant.token });

/**
 * A restored copy of a deployment, started after `gone` was deleted: its rows are back (its old
 * session still authenticates) but not its key, so its record answers 410 without a byte of it, and
 * `kept` reads as before.
 */
export async function expectShreddedInRestoredCopy(
  t: TestApp,
  shredded: { gone: TestTenant; goneRecordId: string; kept: TestTenant; keptRecordId: string; keptData: unknown; canary: string },
): Promise<void> {
  const { gone, goneRecordId, kept, keptRecordId, keptData, canary } = shredded;
  const restored = await t.app.services.db.selectFrom('records').select('id').where('tenant_id', '=', gone.tenantId).execute();
  expect(restored.map((row) => row.id)).toEqual([goneRecordId]);
  const refused = await readPatient(t, gone, goneRecordId);
  expect(refused.statusCode, refused.body).toBe(410);
  expect(errorCode(refused)).toBe('TENANT_DELETED');
  expect(refused.body).not.toContain(canary);
  await expect(t.app.services.keyRing.cipherFor(gone.tenantId)).rejects.toMatchObject({ code: 'TENANT_DELETED' });
  // The server goes on serving everyone else.
  const other = await readPatient(t, kept, keptRecordId);
  expect(other.statusCode, other.body).toBe(200);
  expect(other.json().data).toEqual(keptData);
  expect(t.logs.join('')).not.toContain(canary);
}

/**
 * The deployments and started apps of a test file, closed and cleaned up after each test (call it
 * at the top of the file): `started` starts an app and tracks it, `stop` closes one early.
 */
export function trackedDeployments() {
  const deployments: Deployment[] = [];
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close().catch(() => {});
    for (const deployment of deployments.splice(0)) deployment.cleanUp();
  });
  const started = async (deployment: Deployment): Promise<TestApp> => {
    const t = await deployment.start();
    apps.push(t);
    return t;
  };
  const stop = async (t: TestApp): Promise<void> => {
    apps.splice(apps.indexOf(t), 1);
    await t.close();
  };
  return { deployments, apps, started, stop };
}

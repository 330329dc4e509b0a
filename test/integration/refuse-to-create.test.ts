import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp } from '../../src/app/create-app.js';
import { DIALECTS, freshPostgresSchema, postgresBaseUrl, type TestDialect } from '../harness/dialects.js';
import { runCli } from '../harness/run-cli.js';
import { freePort } from '../harness/free-port.js';
import { killHard, startServerProcess } from '../harness/server-process.js';

const EX_CONFIG = 78;

/** The tables in one PostgreSQL schema, to show that a refused command created none. */
async function tablesIn(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: postgresBaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      'select table_name as name from information_schema.tables where table_schema = $1 order by 1',
      [schema],
    );
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

/** Every file and folder under `dir`, relative, sorted: a refused command must leave this unchanged. */
function tree(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

/**
 * Only `confide serve` on an empty data directory may create a master key and a database (issue 7,
 * item 3): any other command, or `serve` next to existing data without its key, refuses with one
 * line naming the key source and the database, exit 78, and creates nothing.
 */
describe.each(DIALECTS)('the CLI refuses instead of creating, on %s', (dialect: TestDialect) => {
  const roots: string[] = [];
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  /** A fresh folder with the paths a deployment would use, and (on PostgreSQL) a fresh empty schema. */
  async function deployment() {
    const root = mkdtempSync(join(tmpdir(), 'confide-refuse-'));
    roots.push(root);
    const dataDir = join(root, 'data');
    const keyFile = join(root, 'keys', 'master.key');
    const schema = dialect === 'postgres' ? await freshPostgresSchema() : undefined;
    const env: Record<string, string> = {
      CONFIDE_DATA_DIR: dataDir,
      CONFIDE_MASTER_KEY_FILE: keyFile,
      CONFIDE_LOG_LEVEL: 'info',
      ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}),
    };
    const base = schema ? new URL(postgresBaseUrl()) : undefined;
    const database = base ? `PostgreSQL ${base.hostname}:${base.port}/postgres, schema ${schema!.schema}` : join(dataDir, 'confide.db');
    const source = schema ? 'CONFIDE_DATABASE_URL' : `CONFIDE_DATA_DIR=${dataDir}`;
    return { root, dataDir, keyFile, env, database, source, schema: schema?.schema };
  }

  for (const command of [['audit', 'verify'], ['mail', 'outbox']]) {
    it(`\`confide ${command.join(' ')}\` with no database: exit 78, one line naming it, no key, data dir, database or table created`, async () => {
      const d = await deployment();
      const result = runCli(command, d.env);
      expect(result.status, result.stderr).toBe(EX_CONFIG);
      expect(result.stderr).toBe(
        `confide: no Confide database at ${d.database} (${d.source}, master key file ${d.keyFile}); ` +
          'run `confide serve` to create one, or point CONFIDE_DATA_DIR/CONFIDE_DATABASE_URL at an existing one\n',
      );
      expect(result.stdout).toBe('');
      expect(readdirSync(d.root)).toEqual([]); // no data dir, no key dir, no key, no database file
      if (d.schema) expect(await tablesIn(d.schema)).toEqual([]);
    });
  }

  it('`confide audit verify` with the master key from CONFIDE_MASTER_KEY and no database names that source, never the key', async () => {
    const d = await deployment();
    const key = randomBytes(32).toString('base64');
    const result = runCli(['audit', 'verify'], { ...d.env, CONFIDE_MASTER_KEY: key });
    expect(result.status, result.stderr).toBe(EX_CONFIG);
    expect(result.stderr).toBe(
      `confide: no Confide database at ${d.database} (${d.source}, master key from CONFIDE_MASTER_KEY); ` +
        'run `confide serve` to create one, or point CONFIDE_DATA_DIR/CONFIDE_DATABASE_URL at an existing one\n',
    );
    expect(readdirSync(d.root)).toEqual([]);
  });

  it('`confide serve` and `audit verify` next to an existing database whose key file is missing: exit 78, one line, nothing created', async () => {
    const d = await deployment();
    const app = await createApp(loadConfig(d.env, d.root), { startWorkers: false, createIfMissing: true });
    await app.close();
    unlinkSync(d.keyFile);
    const before = tree(d.root);
    const tablesBefore = d.schema ? await tablesIn(d.schema) : [];
    const line =
      `confide: the master key file ${d.keyFile} is missing but the database ${d.database} exists: ` +
      'restore the key file (CONFIDE_MASTER_KEY_FILE); a new key cannot open existing data\n';

    for (const command of [['serve'], ['audit', 'verify']]) {
      const result = runCli(command, { ...d.env, CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${await freePort()}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` });
      expect(result.status, `${command.join(' ')}: ${result.stderr}`).toBe(EX_CONFIG);
      expect(result.stderr).toBe(line);
      expect(existsSync(d.keyFile)).toBe(false);
      expect(tree(d.root)).toEqual(before);
      if (d.schema) expect(await tablesIn(d.schema)).toEqual(tablesBefore);
    }
  });

  it('`confide serve` on an empty data directory creates the key and the database, and a later command uses them', { timeout: 120_000 }, async () => {
    const d = await deployment();
    const server = await startServerProcess(d.env, await freePort());
    try {
      expect(existsSync(d.keyFile)).toBe(true);
      if (d.schema) expect(await tablesIn(d.schema)).toEqual(expect.arrayContaining(['kysely_migration', 'tenants']));
      else expect(existsSync(join(d.dataDir, 'confide.db'))).toBe(true);
    } finally {
      await killHard(server);
    }
    const verified = runCli(['audit', 'verify'], d.env);
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toBe('all 0 access logs verify\n');
    expect(verified.status).toBe(0);
  });
});

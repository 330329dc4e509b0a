/**
 * npm run bench:seed -- --data-dir D [--tenants 10000 --records 1000000 --big-tenant-records 100000 --json]
 *
 * Builds, fast, an embedded (SQLCipher) Confide deployment in D that `confide serve` opens as it is:
 * `--tenants` tenants, each made as sign-up makes it (its own data key, encrypted name, chain
 * anchor) with one verified owner; `--records` 1 KiB records over three collections (the first
 * tenant gets `--big-tenant-records` of them, the others share the rest evenly), each with its
 * `create` access-log entry (chained, IP sealed) and each tenant's head signed by a checkpoint.
 * Everything that decides a format is Confide's own code (bench/seed-tenant.ts); only the writing
 * is batched (500 rows a statement, about 20,000 records a transaction).
 *
 * D holds `data/` (CONFIDE_DATA_DIR), `master-key` (the bench's CONFIDE_MASTER_KEY, base64; a
 * bench deployment, not a layout to copy) and `seed.json` (mode 0600: the owners' shared password
 * and, per tenant, its id, owner address and a few record ids), which bench/scale.ts reads.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openServices } from '../src/app/open-services.js';
import { loadConfig } from '../src/config/load-config.js';
import { hashPassword } from '../src/identity/password-hasher.js';
import { normaliseEmail } from '../src/identity/email-address.js';
import { blindIndex } from '../src/keys/blind-index.js';
import { SYSTEM_OWNER } from '../src/keys/key-ring.js';
import { BatchInsert } from './batch-insert.js';
import { seedTenant, type SeedContext, type SeededTenant } from './seed-tenant.js';

export interface SeedOptions {
  root: string;
  tenants: number;
  records: number;
  bigTenantRecords: number;
  say: (line: string) => void;
}

export interface SeedManifest {
  password: string;
  tenants: SeededTenant[];
}

export interface SeedFigures {
  tenants: number;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** The seeding process's CPU time (user + system): on a shared machine, records per CPU second say more than the wall clock. */
  cpuSeconds: number;
  recordsPerCpuSecond: number;
  /** The database file, its WAL and its key file, after a checkpoint of the WAL. */
  databaseBytes: number;
}

/** A seeded deployment's environment for `confide serve` and the CLI (the caller adds listeners and limits). */
export function seedEnv(root: string): Record<string, string> {
  return { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: readFileSync(join(root, 'master-key'), 'utf8').trim(), CONFIDE_LOG_LEVEL: 'warn' };
}

export function readManifest(root: string): SeedManifest {
  return JSON.parse(readFileSync(join(root, 'seed.json'), 'utf8')) as SeedManifest;
}

/** Records per tenant: the first gets `big` (at most all), the others share the rest, the first ones one more. */
export function recordCounts(tenants: number, records: number, big: number): number[] {
  if (tenants === 1) return [records];
  const first = Math.min(big, records);
  const rest = records - first;
  const each = Math.floor(rest / (tenants - 1));
  const extra = rest % (tenants - 1);
  return [first, ...Array.from({ length: tenants - 1 }, (_, i) => each + (i < extra ? 1 : 0))];
}

/** Tenants per transaction: about this many records each (the big tenant has one of its own). */
const RECORDS_PER_TRANSACTION = 20_000;

export async function seedDatabase(options: SeedOptions): Promise<SeedFigures> {
  const root = resolve(options.root);
  if (existsSync(join(root, 'data'))) throw new Error(`${root}/data exists: seed into an empty place`);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  writeFileSync(join(root, 'master-key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const { services, database } = await openServices(loadConfig(seedEnv(root), root), { createIfMissing: true });
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const password = `seed-${randomBytes(12).toString('base64url')}`;
  const indexKey = await services.keyRing.blindIndexKey();
  const context: SeedContext = {
    services,
    passwordHash: await hashPassword(password),
    systemCipher: await services.keyRing.cipherFor(SYSTEM_OWNER),
    indexKey,
    signer: await services.signingKeys.current(),
    records: new BatchInsert('records'),
    entries: new BatchInsert('access_log'),
    emailIndex: (email) => blindIndex(indexKey, 'email', normaliseEmail(email)),
  };
  const counts = recordCounts(options.tenants, options.records, options.bigTenantRecords);
  const tenants: SeededTenant[] = [];
  try {
    let next = 0;
    while (next < counts.length) {
      await database.db.transaction().execute(async (trx) => {
        let written = 0;
        while (next < counts.length && (written === 0 || written + counts[next]! <= RECORDS_PER_TRANSACTION)) {
          tenants.push(await seedTenant(context, trx, next, counts[next]!));
          written += counts[next]!;
          next += 1;
          // The cache of unwrapped keys is for serving; a seed's 10,000 tenants would only fill it.
          await services.keyRing.forget(tenants[tenants.length - 1]!.id);
        }
        await context.records.flush(trx);
        await context.entries.flush(trx);
      });
      options.say(`  ${next}/${counts.length} tenants, ${Math.round((performance.now() - started) / 1000)} s`);
    }
  } finally {
    await database.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  writeFileSync(join(root, 'seed.json'), JSON.stringify({ password, tenants } satisfies SeedManifest), { mode: 0o600 });
  return { tenants: options.tenants, records: options.records, seconds: Number(seconds.toFixed(1)), recordsPerSecond: Math.round(options.records / seconds),
    cpuSeconds: Number(cpuSeconds.toFixed(1)), recordsPerCpuSecond: Math.round(options.records / cpuSeconds), databaseBytes: databaseBytes(join(root, 'data')) };
}

/** The bytes of the database's files in the data directory (closing the database checkpointed its WAL). */
export function databaseBytes(dataDir: string): number {
  return readdirSync(dataDir)
    .filter((name) => name.startsWith('confide.db'))
    .reduce((sum, name) => sum + statSync(join(dataDir, name)).size, 0);
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      tenants: { type: 'string', default: '10000' },
      records: { type: 'string', default: '1000000' },
      'big-tenant-records': { type: 'string', default: '100000' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!args['data-dir']) throw new Error('--data-dir: where to build the deployment');
  const say = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  const options = { root: args['data-dir'], tenants: Number(args.tenants), records: Number(args.records), bigTenantRecords: Number(args['big-tenant-records']), say };
  if (![options.tenants, options.records, options.bigTenantRecords].every((n) => Number.isInteger(n) && n >= 0) || options.tenants < 1) throw new Error('--tenants, --records and --big-tenant-records: whole numbers (at least one tenant)');
  say(`seeding ${options.tenants} tenants and ${options.records} records into ${resolve(options.root)}…`);
  const figures = await seedDatabase(options);
  say(`seeded in ${figures.seconds} s: ${figures.recordsPerSecond} records/s with their log entries (${figures.recordsPerCpuSecond} per CPU second, ${figures.cpuSeconds} s of CPU), database ${(figures.databaseBytes / 2 ** 20).toFixed(0)} MiB on disk`);
  if (args.json) process.stdout.write(`${JSON.stringify({ seed: figures })}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`seed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { withServices } from './with-services.js';
import { verifyAccessLog } from '../audit/verify-access-log.js';
import { chainLengths } from '../audit/chain-lengths.js';
import { listTenantIds } from '../tenants/tenant-repository.js';
import { verifyInProcesses, type TenantReport } from './audit-verify-jobs.js';
import { verifyShards } from './verify-shards.js';
import type { Services } from '../app/services.js';

export interface AuditVerifyOptions {
  tenant?: string;
  /** A file listing tenant ids, one per line; `-` for stdin. */
  tenantsFrom?: string;
  /** How many verifier processes: a positive integer, or `auto` (the default). */
  jobs?: string;
  json?: boolean;
}

/**
 * With `--jobs auto`, chains holding fewer entries than this in all are walked in this process:
 * about a second's work, which another process's start (about 0.4 s to open the deployment)
 * would not shorten.
 */
const PARALLEL_FROM_ENTRIES = 50_000;
const MAX_JOBS = 64;

/**
 * Verifies the access-log chain of one tenant, of listed tenants or of every tenant, straight from
 * the database, and holds each against its latest signed checkpoint, with only the signing keys
 * whose private half this master key unwraps (a key pair an intruder inserted signs nothing here).
 * Exits non-zero when any chain is broken, naming the first bad entry, or what the checkpoint
 * shows (a cut tail). Several tenants are divided between verifier processes by chain length
 * (--jobs): one process walks about 50,000 entries a second on one core.
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  if (options.tenant && options.tenantsFrom) throw new Error('give --tenant or --tenants-from, not both');
  const jobs = parseJobs(options.jobs);
  const listed = options.tenantsFrom ? await readTenantList(options.tenantsFrom) : options.tenant ? [options.tenant] : undefined;
  return withServices(async (services) => {
    const everyTenant = await listTenantIds(services.db);
    const known = new Set(everyTenant);
    const unknown = listed?.find((tenantId) => !known.has(tenantId));
    if (unknown !== undefined) throw new Error(`no tenant ${unknown}`);
    const tenantIds = listed ?? everyTenant;
    const lengths = await chainLengths(services.db);
    const processes = jobs === 'auto' ? autoJobs(tenantIds, lengths) : jobs;
    const shards = verifyShards(tenantIds, lengths, processes);
    const results = shards.length > 1 ? inGivenOrder(tenantIds, await verifyInProcesses(shards)) : await verifyHere(services, tenantIds);
    const ok = results.every((result) => result.ok);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok, tenants: results })}\n`);
    } else {
      for (const result of results) {
        const status = result.ok ? 'ok' : `BROKEN at entry ${result.firstBadSeq}`;
        const signed = result.checkpoint ? `signed up to ${result.checkpoint.seq}` : 'no checkpoint yet';
        process.stdout.write(`${result.tenantId}  ${result.entries} entries  ${signed}  ${status}\n`);
        for (const problem of result.problems) process.stdout.write(`  seq ${problem.seq}: ${problem.message}\n`);
      }
      process.stdout.write(ok ? `all ${results.length} access logs verify\n` : 'access log verification FAILED\n');
    }
    return ok ? 0 : 1;
  });
}

async function verifyHere(services: Services, tenantIds: readonly string[]): Promise<TenantReport[]> {
  const results: TenantReport[] = [];
  const publicKeys = await services.signingKeys.authenticPublicKeys();
  for (const tenantId of tenantIds) {
    const anchor = { checkpoint: await services.checkpoints.latest(tenantId), publicKeys };
    const report = await verifyAccessLog(services.db, tenantId, await services.keyRing.cipherFor(tenantId), anchor);
    results.push({ tenantId, ...report });
  }
  return results;
}

/** Every CPU when the chains are long enough to gain from it (PARALLEL_FROM_ENTRIES), else this process alone. */
function autoJobs(tenantIds: readonly string[], lengths: ReadonlyMap<string, number>): number {
  const entries = tenantIds.reduce((sum, tenantId) => sum + (lengths.get(tenantId) ?? 0), 0);
  return entries >= PARALLEL_FROM_ENTRIES ? Math.min(availableParallelism(), MAX_JOBS) : 1;
}

function parseJobs(value: string | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  const jobs = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(jobs >= 1 && jobs <= MAX_JOBS)) throw new Error(`--jobs must be auto or a whole number from 1 to ${MAX_JOBS}, not ${JSON.stringify(value)}`);
  return jobs;
}

/** Tenant ids one per line (blank lines skipped, each id once), from a file or, for `-`, stdin. */
async function readTenantList(from: string): Promise<string[]> {
  const content = from === '-' ? await text(process.stdin) : await readFile(from, 'utf8');
  const ids = [...new Set(content.split('\n').map((line) => line.trim()).filter((line) => line !== ''))];
  if (ids.length === 0) throw new Error(`--tenants-from ${from} lists no tenant`);
  return ids;
}

/** The processes' reports, in the order the tenants were listed (as one process gives them). */
function inGivenOrder(tenantIds: readonly string[], reports: readonly TenantReport[]): TenantReport[] {
  const byTenant = new Map(reports.map((report) => [report.tenantId, report]));
  return tenantIds.map((tenantId) => {
    const report = byTenant.get(tenantId);
    if (!report) throw new Error(`a verifier process gave no report for tenant ${tenantId}`);
    return report;
  });
}

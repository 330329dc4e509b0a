import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { withServices } from './with-services.js';
import { AccessLogChainWalk } from '../audit/access-log-chain-walk.js';
import { verifyAccessLog, verifySegment, walkToTheHead } from '../audit/verify-access-log.js';
import type { Checkpoint } from '../audit/checkpoint-signature.js';
import { chainLengths } from '../audit/chain-lengths.js';
import { listTenantIds } from '../tenants/tenant-repository.js';
import { parseItemLine, verifyInProcesses, type PlannedItem, type SegmentReport, type TenantReport } from './audit-verify-jobs.js';
import { verifyItems, verifyShards } from './verify-shards.js';
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
 * shows (a cut tail). The work is divided between verifier processes (--jobs): whole tenants, and
 * long chains in stretches; one process walks about 50,000 entries a second on one core.
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  if (options.tenant && options.tenantsFrom) throw new Error('give --tenant or --tenants-from, not both');
  const jobs = parseJobs(options.jobs);
  const listed = options.tenantsFrom ? await readItems(options.tenantsFrom) : options.tenant ? [{ tenantId: options.tenant }] : undefined;
  return withServices(async (services) => {
    const everyTenant = await listTenantIds(services.db);
    const known = new Set(everyTenant);
    const unknown = listed?.find((item) => !known.has(item.tenantId));
    if (unknown !== undefined) throw new Error(`no tenant ${unknown.tenantId}`);
    const items: PlannedItem[] = listed ?? everyTenant.map((tenantId) => ({ tenantId }));
    // Stretches are a verifier process's share of the work, walked here whatever --jobs says.
    const stretches = items.some((item) => item.segment);
    const lengths = await chainLengths(services.db);
    const processes = stretches ? 1 : jobs === 'auto' ? autoJobs(items, lengths) : jobs;
    const { tenants: results, segments } = processes > 1 ? await verifyInParallel(services, items, lengths, processes) : await verifyHere(services, items);
    const ok = results.every((result) => result.ok) && segments.every((segment) => segment.problems.length === 0);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ok, tenants: results, ...(stretches ? { segments } : {}) })}\n`);
    } else {
      for (const result of results) {
        const status = result.ok ? 'ok' : `BROKEN at entry ${result.firstBadSeq}`;
        const signed = result.checkpoint ? `signed up to ${result.checkpoint.seq}` : 'no checkpoint yet';
        process.stdout.write(`${result.tenantId}  ${result.entries} entries  ${signed}  ${status}\n`);
        for (const problem of result.problems) process.stdout.write(`  seq ${problem.seq}: ${problem.message}\n`);
      }
      for (const segment of segments) {
        const status = segment.problems.length === 0 ? 'ok' : `BROKEN at entry ${segment.problems[0]!.seq}`;
        process.stdout.write(`${segment.tenantId}  entries ${segment.fromSeq}–${segment.toSeq}: ${segment.entries} walked  ${status}\n`);
        for (const problem of segment.problems) process.stdout.write(`  seq ${problem.seq}: ${problem.message}\n`);
      }
      process.stdout.write(ok ? `all ${results.length + segments.length} access logs verify\n` : 'access log verification FAILED\n');
    }
    return ok ? 0 : 1;
  });
}

interface Reports {
  tenants: TenantReport[];
  segments: SegmentReport[];
}

async function verifyHere(services: Services, items: readonly PlannedItem[]): Promise<Reports> {
  const reports: Reports = { tenants: [], segments: [] };
  const publicKeys = await services.signingKeys.authenticPublicKeys();
  for (const { tenantId, segment } of items) {
    const cipher = await services.keyRing.cipherFor(tenantId);
    if (segment) {
      const { fromSeq, toSeq, checkpointSeq } = segment;
      reports.segments.push({ tenantId, fromSeq, toSeq, ...(await verifySegment(services.db, tenantId, cipher, fromSeq, toSeq, checkpointSeq ?? undefined)) });
    } else {
      const anchor = { checkpoint: await services.checkpoints.latest(tenantId), publicKeys };
      reports.tenants.push({ tenantId, ...(await verifyAccessLog(services.db, tenantId, cipher, anchor)) });
    }
  }
  return reports;
}

/**
 * The tenants divided between `processes` verifier processes (verifyInProcesses), long chains in
 * stretches. A chain walked in stretches is finished here: its stretches taken in order
 * (addSegment, which checks the seams), then the entries appended since, the head and the
 * checkpoint, as one walk would. The reports come in the order the tenants were listed.
 */
async function verifyInParallel(services: Services, items: readonly PlannedItem[], lengths: ReadonlyMap<string, number>, processes: number): Promise<Reports> {
  const tenantIds = items.map((item) => item.tenantId);
  const split = new Map<string, Checkpoint | null>();
  const planned: PlannedItem[] = [];
  for (const item of verifyItems(tenantIds, lengths, processes)) {
    if (!item.segment) {
      planned.push({ tenantId: item.tenantId });
      continue;
    }
    if (!split.has(item.tenantId)) split.set(item.tenantId, await services.checkpoints.latest(item.tenantId));
    planned.push({ tenantId: item.tenantId, segment: { ...item.segment, checkpointSeq: split.get(item.tenantId)?.seq ?? null } });
  }
  const shards = verifyShards(planned, lengths, processes);
  if (shards.length < 2) return verifyHere(services, items);
  const { tenants, segments } = await verifyInProcesses(shards);
  const byTenant = new Map(tenants.map((report) => [report.tenantId, report]));
  const publicKeys = await services.signingKeys.authenticPublicKeys();
  for (const [tenantId, checkpoint] of split) {
    const stretches = segments.filter((segment) => segment.tenantId === tenantId).sort((a, b) => a.fromSeq - b.fromSeq);
    const expected = planned.filter((item) => item.tenantId === tenantId).length;
    if (stretches.length !== expected) throw new Error(`the verifier processes gave ${stretches.length} of the ${expected} stretches of tenant ${tenantId}`);
    const walk = new AccessLogChainWalk(tenantId, checkpoint);
    for (const stretch of stretches) walk.addSegment(stretch);
    byTenant.set(tenantId, { tenantId, ...(await walkToTheHead(services.db, walk, await services.keyRing.cipherFor(tenantId), publicKeys)) });
  }
  return { tenants: tenantIds.map((tenantId) => reportFor(byTenant, tenantId)), segments: [] };
}

function reportFor(reports: ReadonlyMap<string, TenantReport>, tenantId: string): TenantReport {
  const report = reports.get(tenantId);
  if (!report) throw new Error(`a verifier process gave no report for tenant ${tenantId}`);
  return report;
}

/** Every CPU when the chains are long enough to gain from it (PARALLEL_FROM_ENTRIES), else this process alone. */
function autoJobs(items: readonly PlannedItem[], lengths: ReadonlyMap<string, number>): number {
  const entries = items.reduce((sum, item) => sum + (lengths.get(item.tenantId) ?? 0), 0);
  return entries >= PARALLEL_FROM_ENTRIES ? Math.min(availableParallelism(), MAX_JOBS) : 1;
}

function parseJobs(value: string | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  const jobs = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(jobs >= 1 && jobs <= MAX_JOBS)) throw new Error(`--jobs must be auto or a whole number from 1 to ${MAX_JOBS}, not ${JSON.stringify(value)}`);
  return jobs;
}

/** Tenant ids one per line (blank lines skipped, each line once), from a file or, for `-`, stdin. */
async function readItems(from: string): Promise<PlannedItem[]> {
  const content = from === '-' ? await text(process.stdin) : await readFile(from, 'utf8');
  const lines = [...new Set(content.split('\n').map((line) => line.trim()).filter((line) => line !== ''))];
  if (lines.length === 0) throw new Error(`--tenants-from ${from} lists no tenant`);
  return lines.map(parseItemLine);
}

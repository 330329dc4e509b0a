import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { withServices } from './with-services.js';
import { AccessLogChainWalk } from '../audit/access-log-chain-walk.js';
import { verifyAccessLog, verifySegment, walkToTheHead } from '../audit/verify-access-log.js';
import type { Checkpoint } from '../audit/checkpoint-signature.js';
import { chainLengths } from '../audit/chain-lengths.js';
import { listTenantIds } from '../tenants/tenant-repository.js';
import { verifyInProcesses } from './audit-verify-jobs.js';
import { parseWorkLine, VERIFIER_PROTOCOL, type TenantReport, type VerifierReport, type WorkItem } from './verify-work.js';
import { planVerification, verifyShards } from './verify-shards.js';
import type { Services } from '../app/services.js';

export interface AuditVerifyOptions {
  tenant?: string;
  /** A file listing tenant ids, one per line; `-` for stdin. */
  tenantsFrom?: string;
  /** How many verifier processes: a positive integer, or `auto` (the default). */
  jobs?: string;
  json?: boolean;
  /** Hidden: this is a verifier process of `--jobs`, speaking this protocol version, its work on stdin (verify-work.ts). */
  verifierWork?: string;
}

/**
 * With `--jobs auto`, chains holding fewer entries than this in all are walked in this process:
 * about a second's work, which another process's start (about 0.4 s to open the deployment)
 * would not shorten.
 */
const PARALLEL_FROM_ENTRIES = 50_000;
const MAX_JOBS = 64;
/** `auto` takes every CPU up to this many: each process holds a database connection, and a server may share the host. */
const MAX_AUTO_JOBS = 8;

/**
 * Verifies the access-log chain of one tenant, of listed tenants or of every tenant, straight from
 * the database, and holds each against its latest signed checkpoint, with only the signing keys
 * whose private half this master key unwraps (a key pair an intruder inserted signs nothing here).
 * Exits non-zero when any chain is broken, naming the first bad entry, or what the checkpoint
 * shows (a cut tail). The work is divided between verifier processes (--jobs): whole tenants, and
 * long chains in segments; one process walks about 50,000 entries a second on one core.
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  if (options.verifierWork !== undefined) return verifierProcess(options.verifierWork);
  if (options.tenant && options.tenantsFrom) throw new Error('give --tenant or --tenants-from, not both');
  const jobs = parseJobs(options.jobs);
  const listed = options.tenantsFrom ? await readTenantList(options.tenantsFrom) : options.tenant ? [options.tenant] : undefined;
  return withServices(async (services) => {
    const everyTenant = await listTenantIds(services.db);
    if (listed) refuseUnknownTenants(everyTenant, listed);
    const tenantIds = listed ?? everyTenant;
    const lengths = await chainLengths(services.db);
    const processes = jobs === 'auto' ? autoJobs(tenantIds, lengths) : jobs;
    const results = processes > 1 ? await verifyInParallel(services, tenantIds, lengths, processes) : await verifyTenantsHere(services, tenantIds);
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

/**
 * A verifier process of `--jobs`: walks the whole tenants and the segments it is told on stdin and
 * prints what it found, for the command that started it to merge. A segment's report is not a
 * verdict on any chain (its start, the head and the checkpoint are the command's to check), which
 * is why this is no option of the command's own.
 */
async function verifierProcess(protocol: string): Promise<number> {
  if (protocol !== VERIFIER_PROTOCOL) throw new Error(`this confide speaks verifier protocol ${VERIFIER_PROTOCOL}, not ${JSON.stringify(protocol)}`);
  const items = nonBlankLines(await text(process.stdin)).map(parseWorkLine);
  return withServices(async (services) => {
    refuseUnknownTenants(await listTenantIds(services.db), items.map((item) => item.tenantId));
    const report = await verifyHere(services, items);
    const ok = report.tenants.every((result) => result.ok) && report.segments.every((segment) => segment.problems.length === 0);
    process.stdout.write(`${JSON.stringify({ ok, ...report })}\n`);
    return ok ? 0 : 1;
  });
}

/** Refuses, naming it, the first of `tenantIds` that is not a tenant. */
function refuseUnknownTenants(everyTenant: readonly string[], tenantIds: readonly string[]): void {
  const known = new Set(everyTenant);
  const unknown = tenantIds.find((tenantId) => !known.has(tenantId));
  if (unknown !== undefined) throw new Error(`no tenant ${unknown}`);
}

/** Each tenant's whole chain, walked in this process. */
async function verifyTenantsHere(services: Services, tenantIds: readonly string[]): Promise<TenantReport[]> {
  return (await verifyHere(services, tenantIds.map((tenantId) => ({ tenantId })))).tenants;
}

async function verifyHere(services: Services, items: readonly WorkItem[]): Promise<VerifierReport> {
  const reports: VerifierReport = { tenants: [], segments: [] };
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
 * segments. A chain walked in segments is finished here: its segments taken in order
 * (addSegment, which checks the seams), then the entries appended since, the head and the
 * checkpoint, as one walk would. The reports come in the order the tenants were listed.
 */
async function verifyInParallel(services: Services, tenantIds: readonly string[], lengths: ReadonlyMap<string, number>, processes: number): Promise<TenantReport[]> {
  const split = new Map<string, Checkpoint | null>();
  const planned: WorkItem[] = [];
  for (const { tenantId, segment } of planVerification(tenantIds, lengths, processes)) {
    if (!segment) {
      planned.push({ tenantId });
      continue;
    }
    if (!split.has(tenantId)) split.set(tenantId, await services.checkpoints.latest(tenantId));
    planned.push({ tenantId, segment: { ...segment, checkpointSeq: split.get(tenantId)?.seq ?? null } });
  }
  const shards = verifyShards(planned, lengths, processes);
  if (shards.length < 2) return verifyTenantsHere(services, tenantIds);
  const { tenants, segments } = await verifyInProcesses(shards);
  const byTenant = new Map(tenants.map((report) => [report.tenantId, report]));
  const publicKeys = await services.signingKeys.authenticPublicKeys();
  for (const [tenantId, checkpoint] of split) {
    const walk = new AccessLogChainWalk(tenantId, checkpoint);
    for (const segment of segments.filter((each) => each.tenantId === tenantId).sort((a, b) => a.fromSeq - b.fromSeq)) walk.addSegment(segment);
    byTenant.set(tenantId, { tenantId, ...(await walkToTheHead(services.db, walk, await services.keyRing.cipherFor(tenantId), publicKeys)) });
  }
  return tenantIds.map((tenantId) => reportFor(byTenant, tenantId));
}

function reportFor(reports: ReadonlyMap<string, TenantReport>, tenantId: string): TenantReport {
  const report = reports.get(tenantId);
  if (!report) throw new Error(`a verifier process gave no report for tenant ${tenantId}`);
  return report;
}

/** Every CPU (up to MAX_AUTO_JOBS) when the chains are long enough to gain from it (PARALLEL_FROM_ENTRIES), else this process alone. */
function autoJobs(tenantIds: readonly string[], lengths: ReadonlyMap<string, number>): number {
  const entries = tenantIds.reduce((sum, tenantId) => sum + (lengths.get(tenantId) ?? 0), 0);
  return entries >= PARALLEL_FROM_ENTRIES ? Math.min(availableParallelism(), MAX_AUTO_JOBS) : 1;
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
  const ids = [...new Set(nonBlankLines(content))];
  if (ids.length === 0) throw new Error(`--tenants-from ${from} lists no tenant`);
  const notAnId = ids.find((id) => /\s/.test(id));
  if (notAnId !== undefined) throw new Error(`--tenants-from ${from}: ${JSON.stringify(notAnId.slice(0, 200))} is not a tenant id`);
  return ids;
}

/** The text's lines, trimmed, blank ones left out: how tenant lists and a verifier's work are read. */
function nonBlankLines(content: string): string[] {
  return content
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

import type { SegmentSummary } from '../audit/access-log-chain-walk.js';
import type { VerificationReport } from '../audit/verify-access-log.js';
import type { VerifyItem } from './verify-shards.js';

/**
 * How `confide audit verify --jobs` and its verifier processes talk: the process is started with
 * the hidden `--verifier-work <protocol>`, reads its work on stdin one item a line, and prints its
 * report as JSON. The version is checked, so a verifier of another release (the files replaced
 * during a run) refuses instead of answering in a shape the command would misread.
 */
export const VERIFIER_PROTOCOL = '1';

export type TenantReport = { tenantId: string } & VerificationReport;
/** A segment of a chain one verifier process walked: the item, and what it found. */
export type SegmentReport = { tenantId: string; fromSeq: number; toSeq: number } & SegmentSummary;

/** A verifier's item: for a segment, also the seq of the checkpoint the whole chain is held against (null: none). */
export interface WorkItem extends VerifyItem {
  segment?: { fromSeq: number; toSeq: number; checkpointSeq: number | null };
}

/** What a verifier process prints. */
export interface VerifierReport {
  tenants: TenantReport[];
  segments: SegmentReport[];
}

/** One line of a verifier's work: a tenant id, or `<tenant id> <from seq> <to seq> <checkpoint seq or ->`. */
export function workLine(item: WorkItem): string {
  const { segment } = item;
  return segment ? `${item.tenantId} ${segment.fromSeq} ${segment.toSeq} ${segment.checkpointSeq ?? '-'}` : item.tenantId;
}

export function parseWorkLine(line: string): WorkItem {
  const parts = line.split(/\s+/);
  if (parts.length === 1) return { tenantId: parts[0]! };
  const [tenantId, from, to, checkpoint] = parts;
  const [fromSeq, toSeq] = [seqOf(from), seqOf(to)];
  const checkpointSeq = checkpoint === '-' ? null : seqOf(checkpoint);
  if (parts.length !== 4 || !(fromSeq >= 1 && toSeq >= fromSeq) || Number.isNaN(checkpointSeq)) {
    throw new Error(`verifier work: ${JSON.stringify(line.slice(0, 200))} is neither a tenant id nor a segment of a chain`);
  }
  return { tenantId: tenantId!, segment: { fromSeq, toSeq, checkpointSeq } };
}

function seqOf(text: string | undefined): number {
  const value = text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(value) ? value : NaN;
}

/**
 * A verifier's printed report, if it is one in full: every field of every report of the shape the
 * command merges, and exactly the items it was given (each whole tenant and each segment once,
 * nothing else). Anything less is no report: the command never assembles one from part of the work.
 */
export function parseVerifierReport(text: string, given: readonly WorkItem[]): VerifierReport | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.tenants) || !Array.isArray(parsed.segments)) return undefined;
  const { tenants, segments } = parsed as { tenants: unknown[]; segments: unknown[] };
  if (!tenants.every(isTenantReport) || !segments.every(isSegmentReport)) return undefined;
  const expected = given.map((item) => itemKey(item.tenantId, item.segment)).sort();
  const answered = [...tenants.map((report) => itemKey(report.tenantId)), ...segments.map((report) => itemKey(report.tenantId, report))].sort();
  if (expected.length !== answered.length || expected.some((key, i) => key !== answered[i])) return undefined;
  return { tenants, segments };
}

/** A whole tenant, or one segment of its chain: how a report is matched to the work given. */
function itemKey(tenantId: string, segment?: { fromSeq: number; toSeq: number }): string {
  return segment ? `${tenantId} ${segment.fromSeq} ${segment.toSeq}` : tenantId;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isProblem = (value: unknown) => isRecord(value) && isCount(value.seq) && typeof value.kind === 'string' && typeof value.message === 'string';
const isProblems = (value: unknown) => Array.isArray(value) && value.every(isProblem);

function isTenantReport(value: unknown): value is TenantReport {
  return (
    isRecord(value) &&
    typeof value.tenantId === 'string' &&
    typeof value.ok === 'boolean' &&
    isCount(value.entries) &&
    typeof value.head === 'string' &&
    (value.firstBadSeq === null || isCount(value.firstBadSeq)) &&
    isProblems(value.problems) &&
    value.ok === ((value.problems as unknown[]).length === 0)
  );
}

function isSegmentReport(value: unknown): value is SegmentReport {
  if (!isRecord(value)) return false;
  const { first } = value;
  return (
    typeof value.tenantId === 'string' &&
    isCount(value.fromSeq) &&
    isCount(value.toSeq) &&
    isCount(value.entries) &&
    (first === null || (isRecord(first) && isCount(first.seq) && typeof first.prevHash === 'string')) &&
    isCount(value.lastSeq) &&
    (value.lastHash === null || typeof value.lastHash === 'string') &&
    isProblems(value.problems) &&
    (value.hashAtCheckpoint === null || typeof value.hashAtCheckpoint === 'string')
  );
}

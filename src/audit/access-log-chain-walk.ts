import type { Kysely, Selectable } from 'kysely';
import { preparedQuery } from '../db/prepared-query.js';
import type { AccessLogTable, DB } from '../db/schema.js';
import type { ChainHead } from './access-log.js';
import type { Cipher } from '../keys/cipher.js';
import { rowToEntry } from './access-log-rows.js';
import { checkAgainstCheckpoint } from './checkpoint-check.js';
import type { Checkpoint } from './checkpoint-signature.js';
import { entryHash, genesisHash } from './hash-chain.js';
import type { ProblemKind, VerificationProblem, VerificationReport } from './verify-access-log.js';

const MAX_PROBLEMS = 100;

const CHAIN_COLUMNS = [
  'tenant_id', 'seq', 'at', 'actor_type', 'actor_id', 'action', 'resource_type', 'resource_collection', 'resource_id',
  'grant_id', 'justification', 'ip_enc', 'details_enc', 'prev_hash', 'hash',
] as const satisfies ReadonlyArray<keyof AccessLogTable>;

// Every walk reads its chain through this (`confide audit verify`, the monitor's self-check): compiled once.
const selectChainPage = preparedQuery(
  (db: Kysely<DB>, tenantId: string, afterSeq: string, limit: string) =>
    db
      .selectFrom('access_log')
      .select(CHAIN_COLUMNS) // named, not *: direct-sqlite.ts reads named columns faster
      .where('tenant_id', '=', tenantId)
      .where('seq', '>', afterSeq as unknown as number)
      .orderBy('seq', 'asc')
      .limit(limit as unknown as number),
  3,
);

/** The next `limit` entries of the tenant's chain after `afterSeq` (a walk's lastSeq), in seq order. */
export function readChainPage(db: Kysely<DB>, tenantId: string, afterSeq: number, limit: number): Promise<Array<Selectable<AccessLogTable>>> {
  return selectChainPage(db, tenantId, afterSeq, limit);
}

/** A tenant's recorded chain head (access_log_heads, read with readChainHead), undefined when it has none. */
export type RecordedHead = ChainHead | undefined;

/**
 * What a walk over one segment of a chain (`confide audit verify --jobs` gives each
 * verifier process its own) found, for the walk of the whole chain to take in order
 * (AccessLogChainWalk.addSegment). Its first entry's seq and link are reported unchecked: only the
 * walk that knows the entry before can check them.
 */
export interface SegmentSummary {
  entries: number;
  /** The segment's first entry: its seq and the hash it links to. Null: no entry in the segment. */
  first: { seq: number; prevHash: string } | null;
  lastSeq: number;
  lastHash: string | null;
  /** At most MAX_PROBLEMS, in walk order. */
  problems: VerificationProblem[];
  /** The hash of the entry at the checkpoint's seq, when it lies in the segment. */
  hashAtCheckpoint: string | null;
}

/**
 * The checks of verifyAccessLog, one entry at a time in seq order, with the walk's state kept
 * between entries: a caller can stop after any entry and go on later with the rows after
 * `lastSeq` (the monitor's self-check walks a long chain over several runs, a slice at a time).
 * For every entry: its seq follows the previous one (no deletion or reordering), its encrypted
 * fields authenticate, its stored hash is the hash of its content, and it links to the previous
 * entry's hash. At the end the last entry must be the recorded head (a cut tail shows), and the
 * chain is held against the latest signed checkpoint given at the start (checkAgainstCheckpoint).
 * Segments walked elsewhere (segment(), summary()) are taken in with addSegment, which makes
 * at their seams the checks a single walk would: the reports are the same.
 */
export class AccessLogChainWalk {
  private readonly problems: VerificationProblem[] = [];
  // Undefined only in a segment's walk before its first entry: nothing known to check it against.
  private expectedSeq: number | undefined = 1;
  private previousHash: string | undefined;
  private hashAtCheckpoint: string | undefined;
  private headSeen: number | undefined;
  private first: SegmentSummary['first'] = null;
  private checkpointSeq: number | undefined;
  /** Entries walked so far. */
  entries = 0;
  /** The seq of the last entry walked (0 before the first): the next rows to give are those after it. */
  lastSeq = 0;

  constructor(
    readonly tenantId: string,
    /** The tenant's latest signed checkpoint when the walk began (null: none yet; undefined: not held against one). */
    readonly checkpoint?: Checkpoint | null,
  ) {
    this.previousHash = genesisHash(tenantId);
    this.checkpointSeq = checkpoint?.seq;
  }

  /**
   * A walk over the entries from `fromSeq` on, for summary(): its first entry is not checked
   * against the one before (another walk has it), and `checkpointSeq` is the seq of the checkpoint
   * the whole chain is held against (the hash there is noted), if any.
   */
  static segment(tenantId: string, fromSeq: number, checkpointSeq: number | undefined): AccessLogChainWalk {
    const walk = new AccessLogChainWalk(tenantId);
    walk.expectedSeq = undefined;
    walk.previousHash = undefined;
    walk.lastSeq = fromSeq - 1;
    walk.checkpointSeq = checkpointSeq;
    return walk;
  }

  /** Checks the next entry; `cipher` opens its encrypted fields (the tenant's, with every key version it has). */
  add(row: Selectable<AccessLogTable>, cipher: Cipher): void {
    const seq = Number(row.seq);
    this.entries += 1;
    this.first ??= { seq, prevHash: row.prev_hash };
    this.checkSeam(seq, row.prev_hash);
    try {
      if (entryHash(this.tenantId, rowToEntry(row, cipher)) !== row.hash) {
        this.report(seq, 'hash_mismatch', `entry ${seq} does not match its hash (it was changed)`);
      }
    } catch {
      this.report(seq, 'unreadable', `entry ${seq} has fields that do not authenticate (they were changed or moved)`);
    }
    this.previousHash = row.hash;
    this.lastSeq = seq;
    this.expectedSeq = seq + 1;
    if (seq === this.checkpointSeq) this.hashAtCheckpoint = row.hash;
  }

  /** What this segment's walk found, for the walk of the whole chain (addSegment). */
  summary(): SegmentSummary {
    return {
      entries: this.entries,
      first: this.first,
      lastSeq: this.lastSeq,
      lastHash: this.previousHash ?? null, // a segment's walk knows none before its first entry
      problems: [...this.problems],
      hashAtCheckpoint: this.hashAtCheckpoint ?? null,
    };
  }

  /** Takes in the next segment of the chain, walked elsewhere, as if its entries had been added here. */
  addSegment(segment: SegmentSummary): void {
    if (!segment.first || segment.lastHash === null) return; // an empty segment: the next entry shows the gap
    this.checkSeam(segment.first.seq, segment.first.prevHash);
    for (const problem of segment.problems) keep(this.problems, problem);
    this.entries += segment.entries;
    this.previousHash = segment.lastHash;
    this.lastSeq = segment.lastSeq;
    this.expectedSeq = segment.lastSeq + 1;
    if (segment.hashAtCheckpoint !== null) this.hashAtCheckpoint = segment.hashAtCheckpoint;
  }

  /** The entry at `seq` follows the one before (no deletion or reordering) and links to its hash. */
  private checkSeam(seq: number, prevHash: string): void {
    if (this.expectedSeq !== undefined && seq !== this.expectedSeq) this.report(this.expectedSeq, 'missing', `entry ${this.expectedSeq} is missing (next present entry is ${seq})`);
    if (this.previousHash !== undefined && prevHash !== this.previousHash) this.report(seq, 'chain_broken', `entry ${seq} does not link to the entry before it`);
  }

  /**
   * True when the recorded head is past the last entry walked and has moved since the walk last
   * asked: entries were appended while the walk went on (an append writes its entry and moves the
   * head in one transaction), and the rows after `lastSeq` are to be walked before the chain is
   * held against the head. A head that stays past the last entry while no rows follow is a cut
   * tail, which `finish` reports.
   */
  isBehind(head: RecordedHead): boolean {
    const headSeq = head?.seq ?? 0;
    if (headSeq <= this.lastSeq || headSeq === this.headSeen) return false;
    this.headSeen = headSeq;
    return true;
  }

  /** The report: the head read after the last page, and the deployment's authentic signing keys (keyId → raw key) when held against a checkpoint. */
  finish(head: RecordedHead, publicKeys?: ReadonlyMap<string, Buffer>): VerificationReport {
    const problems = [...this.problems];
    const add = (seq: number, kind: ProblemKind, message: string) => keep(problems, { seq, kind, message });
    const headSeq = head?.seq ?? 0;
    if (!head || headSeq !== this.lastSeq || head.hash !== this.previousHash) {
      add(Math.min(this.lastSeq, headSeq) + 1, 'head_mismatch', `the log ends at entry ${this.lastSeq} but its head records entry ${headSeq}`);
    }
    const latest = this.checkpoint;
    const checkpointProblem = latest ? checkAgainstCheckpoint({ lastSeq: this.lastSeq, hashAtCheckpoint: this.hashAtCheckpoint }, latest, publicKeys ?? new Map()) : null;
    if (checkpointProblem) add(checkpointProblem.seq, checkpointProblem.kind, checkpointProblem.message);
    problems.sort((a, b) => a.seq - b.seq);
    return {
      ok: problems.length === 0,
      entries: this.entries,
      head: this.previousHash ?? '',
      firstBadSeq: problems[0]?.seq ?? null,
      problems,
      ...(latest !== undefined ? { checkpoint: latest ? { seq: latest.seq, at: latest.at, keyId: latest.keyId } : null } : {}),
    };
  }

  private report(seq: number, kind: ProblemKind, message: string): void {
    keep(this.problems, { seq, kind, message });
  }
}

/** A report names at most MAX_PROBLEMS problems: a chain broken throughout still gives a short one. */
function keep(problems: VerificationProblem[], problem: VerificationProblem): void {
  if (problems.length < MAX_PROBLEMS) problems.push(problem);
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { AccessLogChainWalk, readChainPage, type SegmentSummary } from './access-log-chain-walk.js';
import { readChainHead } from './access-log.js';
import type { CheckpointProblemKind } from './checkpoint-check.js';
import type { Checkpoint } from './checkpoint-signature.js';

export type ProblemKind = 'missing' | 'unexpected_seq' | 'unreadable' | 'hash_mismatch' | 'chain_broken' | 'head_mismatch' | CheckpointProblemKind;

export interface VerificationProblem {
  seq: number;
  kind: ProblemKind;
  message: string;
}

export interface VerificationReport {
  ok: boolean;
  entries: number;
  head: string;
  firstBadSeq: number | null;
  problems: VerificationProblem[];
  /** The latest signed checkpoint the chain was held against (when one was given). */
  checkpoint?: { seq: number; at: string; keyId: string } | null;
}

/** The tenant's latest signed checkpoint, and the deployment's authentic signing keys (keyId → raw public key). */
export interface CheckpointAnchor {
  checkpoint: Checkpoint | null;
  publicKeys: ReadonlyMap<string, Buffer>;
}

const PAGE = 1000;

/**
 * Walks a tenant's chain from the first entry and checks, for every entry: its seq follows the
 * previous one (no deletion or reordering), its encrypted fields authenticate, its stored hash is
 * the hash of its content, and it links to the previous entry's hash. The last entry must match
 * the recorded head, so a truncated tail is caught too. With an `anchor`, the chain is also held
 * against the latest signed checkpoint (checkAgainstCheckpoint), which catches an intruder who cut
 * the tail and rewrote the head to match, or restored an older copy of the log.
 */
export async function verifyAccessLog(db: Kysely<DB>, tenantId: string, cipher: Cipher, anchor?: CheckpointAnchor): Promise<VerificationReport> {
  return walkToTheHead(db, new AccessLogChainWalk(tenantId, anchor ? anchor.checkpoint : undefined), cipher, anchor?.publicKeys);
}

/**
 * Walks on from the walk's last entry to the recorded head, and reports: what verifyAccessLog does
 * after its first entry, and what `confide audit verify --jobs` does after taking in the segments
 * its verifier processes walked (AccessLogChainWalk.addSegment).
 */
export async function walkToTheHead(db: Kysely<DB>, walk: AccessLogChainWalk, cipher: Cipher, publicKeys?: ReadonlyMap<string, Buffer>): Promise<VerificationReport> {
  for (;;) {
    const rows = await readChainPage(db, walk.tenantId, walk.lastSeq, PAGE);
    for (const row of rows) walk.add(row, cipher);
    if (rows.length === PAGE) continue;
    // Entries appended while the walk went on are walked too before the chain is held against its head.
    const head = await readChainHead(db, walk.tenantId);
    if (walk.isBehind(head)) continue;
    return walk.finish(head, publicKeys);
  }
}

/**
 * Walks the tenant's entries from `fromSeq` to `toSeq` alone (AccessLogChainWalk.segment), noting
 * the hash at `checkpointSeq`: one verifier process's share of a long chain.
 */
export async function verifySegment(db: Kysely<DB>, tenantId: string, cipher: Cipher, fromSeq: number, toSeq: number, checkpointSeq: number | undefined): Promise<SegmentSummary> {
  const walk = AccessLogChainWalk.segment(tenantId, fromSeq, checkpointSeq);
  for (;;) {
    const rows = await readChainPage(db, tenantId, walk.lastSeq, Math.min(PAGE, toSeq - walk.lastSeq));
    for (const row of rows) {
      if (Number(row.seq) > toSeq) return walk.summary();
      walk.add(row, cipher);
    }
    if (rows.length === 0 || walk.lastSeq >= toSeq) return walk.summary();
  }
}

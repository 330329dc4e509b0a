import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { AccessLogChainWalk, readChainPage } from './access-log-chain-walk.js';
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
  const walk = new AccessLogChainWalk(tenantId, anchor ? anchor.checkpoint : undefined);
  for (;;) {
    const rows = await readChainPage(db, tenantId, walk.lastSeq, PAGE);
    for (const row of rows) walk.add(row, cipher);
    if (rows.length === PAGE) continue;
    // Entries appended while the walk went on are walked too before the chain is held against its head.
    const head = await readChainHead(db, tenantId);
    if (walk.isBehind(head)) continue;
    return walk.finish(head, anchor?.publicKeys);
  }
}

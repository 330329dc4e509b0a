import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { rowToEntry } from './access-log-rows.js';
import { checkAgainstCheckpoint, type CheckpointProblemKind } from './checkpoint-check.js';
import type { Checkpoint } from './checkpoint-signature.js';
import { entryHash, genesisHash } from './hash-chain.js';

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
const MAX_PROBLEMS = 100;

/**
 * Walks a tenant's chain from the first entry and checks, for every entry: its seq follows the
 * previous one (no deletion or reordering), its encrypted fields authenticate, its stored hash is
 * the hash of its content, and it links to the previous entry's hash. The last entry must match
 * the recorded head, so a truncated tail is caught too. With an `anchor`, the chain is also held
 * against the latest signed checkpoint (checkAgainstCheckpoint), which catches an intruder who cut
 * the tail and rewrote the head to match, or restored an older copy of the log.
 */
export async function verifyAccessLog(db: Kysely<DB>, tenantId: string, cipher: Cipher, anchor?: CheckpointAnchor): Promise<VerificationReport> {
  const problems: VerificationProblem[] = [];
  const report = (seq: number, kind: ProblemKind, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, kind, message });
  };

  let expectedSeq = 1;
  let previousHash = genesisHash(tenantId);
  let entries = 0;
  let lastSeq = 0;
  let hashAtCheckpoint: string | undefined;
  for (;;) {
    const rows = await db
      .selectFrom('access_log')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('seq', '>', lastSeq)
      .orderBy('seq', 'asc')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const seq = Number(row.seq);
      entries += 1;
      lastSeq = seq;
      if (seq !== expectedSeq) {
        report(expectedSeq, 'missing', `entry ${expectedSeq} is missing (next present entry is ${seq})`);
      }
      if (row.prev_hash !== previousHash) {
        report(seq, 'chain_broken', `entry ${seq} does not link to the entry before it`);
      }
      try {
        if (entryHash(tenantId, rowToEntry(row, cipher)) !== row.hash) {
          report(seq, 'hash_mismatch', `entry ${seq} does not match its hash (it was changed)`);
        }
      } catch {
        report(seq, 'unreadable', `entry ${seq} has fields that do not authenticate (they were changed or moved)`);
      }
      previousHash = row.hash;
      expectedSeq = seq + 1;
      if (seq === anchor?.checkpoint?.seq) hashAtCheckpoint = row.hash;
    }
    if (rows.length < PAGE) break;
  }

  const headProblem = await checkHead(db, tenantId, lastSeq, previousHash);
  if (headProblem) report(headProblem.seq, headProblem.kind, headProblem.message);
  const latest = anchor?.checkpoint;
  const checkpointProblem = latest ? checkAgainstCheckpoint({ lastSeq, hashAtCheckpoint }, latest, anchor.publicKeys) : null;
  if (checkpointProblem) report(checkpointProblem.seq, checkpointProblem.kind, checkpointProblem.message);

  problems.sort((a, b) => a.seq - b.seq);
  return {
    ok: problems.length === 0,
    entries,
    head: previousHash,
    firstBadSeq: problems[0]?.seq ?? null,
    problems,
    ...(anchor ? { checkpoint: latest ? { seq: latest.seq, at: latest.at, keyId: latest.keyId } : null } : {}),
  };
}

/** The last entry must be the recorded head: a cut tail shows, unless the head was rewritten too (checkpoints catch that). */
async function checkHead(db: Kysely<DB>, tenantId: string, lastSeq: number, lastHash: string): Promise<VerificationProblem | null> {
  const head = await db.selectFrom('access_log_heads').select(['seq', 'hash']).where('tenant_id', '=', tenantId).executeTakeFirst();
  const headSeq = head ? Number(head.seq) : 0;
  if (head && headSeq === lastSeq && head.hash === lastHash) return null;
  return { seq: Math.min(lastSeq, headSeq) + 1, kind: 'head_mismatch', message: `the log ends at entry ${lastSeq} but its head records entry ${headSeq}` };
}

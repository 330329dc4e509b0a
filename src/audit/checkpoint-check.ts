import { checkpointSignatureValid, type Checkpoint } from './checkpoint-signature.js';

export type CheckpointProblemKind = 'checkpoint_invalid' | 'truncated' | 'rewritten';

export interface CheckpointProblem {
  seq: number;
  kind: CheckpointProblemKind;
  message: string;
}

/** A chain as walked: its last seq, and the stored hash of the entry at the checkpoint's seq (undefined when absent). */
export interface WalkedChain {
  lastSeq: number;
  hashAtCheckpoint: string | undefined;
}

/**
 * Holds a walked chain against a signed checkpoint: the checkpoint must verify under one of
 * `publicKeys` (keyId → raw key), the chain must reach its seq (else its tail was cut, and the head
 * rewritten to hide it), and the entry there must have the signed hash (else the log was rewritten
 * up to it). A chain that links correctly and matches the latest checkpoint is, up to that seq,
 * the one that was signed: every earlier entry is fixed by the hashes.
 */
export function checkAgainstCheckpoint(chain: WalkedChain, checkpoint: Checkpoint, publicKeys: ReadonlyMap<string, Buffer>): CheckpointProblem | null {
  const signed = `checkpoint at seq ${checkpoint.seq} signed ${checkpoint.at}`;
  const key = publicKeys.get(checkpoint.keyId);
  if (!key || !checkpointSignatureValid(key, checkpoint)) {
    const why = key ? 'its signature does not verify' : `it names signing key ${checkpoint.keyId}, which is not a known key`;
    return { seq: checkpoint.seq, kind: 'checkpoint_invalid', message: `the ${signed} is not genuine: ${why}` };
  }
  if (chain.lastSeq < checkpoint.seq) {
    return { seq: chain.lastSeq + 1, kind: 'truncated', message: `truncated after seq ${chain.lastSeq}; ${signed}` };
  }
  if (chain.hashAtCheckpoint !== checkpoint.hash) {
    return { seq: checkpoint.seq, kind: 'rewritten', message: `entry ${checkpoint.seq} is not the one signed (the log was rewritten up to it); ${signed}` };
  }
  return null;
}

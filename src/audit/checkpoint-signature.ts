import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import { signEd25519, verifyEd25519 } from '../lib/ed25519.js';

/**
 * A signed statement "tenant T's chain had entry `seq` with hash `hash` at time `at`", by the
 * signing key `keyId`. Whoever holds Confide's public key can check it, with no database and no
 * master key: a chain cut before `seq`, or rewritten up to it, no longer matches a checkpoint.
 */
export interface Checkpoint {
  tenantId: string;
  seq: number;
  hash: string;
  /** When it was signed (ISO-8601 UTC). */
  at: string;
  keyId: string;
  /** Ed25519 over checkpointMessage(), base64url. */
  signature: string;
}

export type UnsignedCheckpoint = Omit<Checkpoint, 'signature'>;

/**
 * The bytes signed: a domain separator, so a signature over a checkpoint can never be passed off as
 * a signature over anything else this key might sign, then the RFC 8785 canonical JSON of the fields.
 */
const DOMAIN = 'confide-access-log-checkpoint-v1\n';

export function checkpointMessage(checkpoint: UnsignedCheckpoint): Buffer {
  const { tenantId, seq, hash, at, keyId } = checkpoint;
  return Buffer.from(DOMAIN + canonicalJson({ tenantId, seq, hash, at, keyId }), 'utf8');
}

export function signCheckpoint(privateKey: KeyObject, checkpoint: UnsignedCheckpoint): Checkpoint {
  return { ...checkpoint, signature: signEd25519(privateKey, checkpointMessage(checkpoint)).toString('base64url') };
}

/** True when `publicKey` (raw 32 bytes) signed exactly these fields. */
export function checkpointSignatureValid(publicKey: Buffer, checkpoint: Checkpoint): boolean {
  try {
    return verifyEd25519(publicKey, checkpointMessage(checkpoint), Buffer.from(checkpoint.signature, 'base64url'));
  } catch {
    return false; // a field of the wrong shape cannot be canonicalised: not a valid checkpoint
  }
}

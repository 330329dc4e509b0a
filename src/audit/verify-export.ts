import type { AccessLogEntry } from './access-event.js';
import { EXPORT_FORMAT } from './access-log-export.js';
import { checkpointSignatureValid, type Checkpoint } from './checkpoint-signature.js';
import { entryHash, genesisHash } from './hash-chain.js';

export interface ExportVerification {
  ok: boolean;
  tenantId: string | null;
  entries: number;
  checkpoints: number;
  /** The last seq, and when it was signed: what the export proves the log held. */
  signedUpTo: { seq: number; at: string; keyId: string } | null;
  /** The first line that fails (1-based), and why; null when the export verifies. */
  problem: { line: number; message: string } | null;
}

class BadLine extends Error {}

/**
 * Verifies an access-log export (access-log-export.ts) with nothing but the signing public keys
 * (keyId → raw Ed25519 key): no database, no master key. It recomputes every entry's hash and the
 * chain from the tenant's genesis, checks every checkpoint's signature and that it signs the entry
 * it follows, and requires the export to end with a checkpoint of its last entry and a trailer that
 * counts what came before. Any changed byte, removed or reordered line, or forged signature fails,
 * naming the first line that does.
 */
export async function verifyExport(lines: AsyncIterable<string>, publicKeys: ReadonlyMap<string, Buffer>): Promise<ExportVerification> {
  const state = { tenantId: null as string | null, entries: 0, checkpoints: 0, lastSeq: 0, lastHash: '', signed: null as Checkpoint | null, trailer: false };
  let number = 0;
  const result = (problem: ExportVerification['problem']): ExportVerification => ({
    ok: problem === null,
    tenantId: state.tenantId,
    entries: state.entries,
    checkpoints: state.checkpoints,
    signedUpTo: state.signed ? { seq: state.signed.seq, at: state.signed.at, keyId: state.signed.keyId } : null,
    problem,
  });
  try {
    for await (const text of lines) {
      number += 1;
      if (state.trailer) throw new BadLine('a line follows the trailer');
      readLine(parse(text), state, publicKeys);
    }
    number += 1;
    if (!state.trailer) throw new BadLine('the export ends without its trailer line (it was cut)');
    return result(null);
  } catch (error) {
    if (!(error instanceof BadLine)) throw error;
    return result({ line: number, message: error.message });
  }
}

type State = { tenantId: string | null; entries: number; checkpoints: number; lastSeq: number; lastHash: string; signed: Checkpoint | null; trailer: boolean };

function parse(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new BadLine('not a JSON object');
}

function readLine(value: Record<string, unknown>, state: State, publicKeys: ReadonlyMap<string, Buffer>): void {
  const { type, ...fields } = value;
  if (state.tenantId === null) {
    if (type !== 'header' || fields.format !== EXPORT_FORMAT || typeof fields.tenantId !== 'string') throw new BadLine(`not an access-log export (the first line must be its ${EXPORT_FORMAT} header)`);
    state.tenantId = fields.tenantId;
    state.lastHash = genesisHash(state.tenantId);
    return;
  }
  if (type === 'entry') return readEntry(fields as unknown as AccessLogEntry, state);
  if (type === 'checkpoint') return readCheckpoint(fields as unknown as Checkpoint, state, publicKeys);
  if (type === 'trailer') return readTrailer(fields, state);
  throw new BadLine(`unknown line type ${JSON.stringify(type)}`);
}

/** What an entry line may hold: exactly what its hash covers, so nothing unsigned rides along. */
const ENTRY_FIELDS = new Set(['seq', 'at', 'actor', 'action', 'resource', 'details', 'grantId', 'justification', 'ip', 'prevHash', 'hash']);

function readEntry(entry: AccessLogEntry, state: State): void {
  const stray = Object.keys(entry).find((key) => !ENTRY_FIELDS.has(key));
  if (stray !== undefined) throw new BadLine(`an entry holds the field ${JSON.stringify(stray)}, which no entry has`);
  const expected = state.lastSeq + 1;
  if (entry.seq !== expected) throw new BadLine(`entry ${expected} is missing (this line holds ${JSON.stringify(entry.seq)})`);
  if (entry.prevHash !== state.lastHash) throw new BadLine(`entry ${entry.seq} does not link to the entry before it`);
  let recomputed: string;
  try {
    const { hash: _hash, ...unhashed } = entry;
    recomputed = entryHash(state.tenantId!, unhashed);
  } catch {
    throw new BadLine(`entry ${entry.seq} is malformed`);
  }
  if (recomputed !== entry.hash) throw new BadLine(`entry ${entry.seq} does not match its hash (it was changed)`);
  state.entries += 1;
  state.lastSeq = entry.seq;
  state.lastHash = entry.hash;
}

function readCheckpoint(checkpoint: Checkpoint, state: State, publicKeys: ReadonlyMap<string, Buffer>): void {
  const what = `the checkpoint of entry ${JSON.stringify(checkpoint.seq)}`;
  if (checkpoint.tenantId !== state.tenantId) throw new BadLine(`${what} is of another tenant`);
  if (checkpoint.seq !== state.lastSeq || checkpoint.hash !== state.lastHash) throw new BadLine(`${what} does not sign the entry before it (entry ${state.lastSeq})`);
  const key = publicKeys.get(checkpoint.keyId);
  if (!key) throw new BadLine(`${what} is signed by key ${JSON.stringify(checkpoint.keyId)}, which is not among the public keys given`);
  if (!checkpointSignatureValid(key, checkpoint)) throw new BadLine(`${what} has a signature that does not verify under key ${checkpoint.keyId}`);
  state.checkpoints += 1;
  state.signed = checkpoint;
}

function readTrailer(trailer: Record<string, unknown>, state: State): void {
  if (trailer.entries !== state.entries || trailer.checkpoints !== state.checkpoints || trailer.headSeq !== state.lastSeq || trailer.headHash !== state.lastHash) {
    throw new BadLine('the trailer does not match the lines before it (a line was removed or added)');
  }
  if (!state.signed || state.signed.seq !== state.lastSeq) throw new BadLine(`the last entry (${state.lastSeq}) is not signed by a checkpoint: the export was cut`);
  state.trailer = true;
}

import { describe, expect, it } from 'vitest';
import { ed25519KeyId, generateEd25519, privateKeyFromSeed } from '../lib/ed25519.js';
import type { AccessLogEntry } from './access-event.js';
import { EXPORT_FORMAT } from './access-log-export.js';
import { signCheckpoint } from './checkpoint-signature.js';
import { entryHash, genesisHash } from './hash-chain.js';
import { verifyExport } from './verify-export.js';

const TENANT = 'tenant-1';
const pair = generateEd25519();
const keyId = ed25519KeyId(pair.publicKey);
const keys = new Map([[keyId, pair.publicKey]]);

/** A genuine export of `count` entries, signed after each seq in `signedAt` (and always after the last). */
function genuineExport(count: number, signedAt: number[] = []): string[] {
  const lines = [JSON.stringify({ type: 'header', format: EXPORT_FORMAT, tenantId: TENANT, exportedAt: '2026-01-01T00:00:00.000Z' })];
  let prevHash = genesisHash(TENANT);
  let checkpoints = 0;
  for (let seq = 1; seq <= count; seq += 1) {
    const unhashed: Omit<AccessLogEntry, 'hash'> = {
      seq,
      at: `2026-01-01T00:00:0${seq % 10}.000Z`,
      actor: { type: 'member', id: 'u1' },
      action: 'read',
      resource: { type: 'record', collection: 'c', id: `r${seq}` },
      ip: '192.0.2.1',
      prevHash,
    };
    const hash = entryHash(TENANT, unhashed);
    lines.push(JSON.stringify({ type: 'entry', ...unhashed, hash }));
    if (signedAt.includes(seq) || seq === count) {
      const checkpoint = signCheckpoint(privateKeyFromSeed(pair.seed), { tenantId: TENANT, seq, hash, at: '2026-01-01T00:01:00.000Z', keyId });
      lines.push(JSON.stringify({ type: 'checkpoint', ...checkpoint }));
      checkpoints += 1;
    }
    prevHash = hash;
  }
  lines.push(JSON.stringify({ type: 'trailer', entries: count, checkpoints, headSeq: count, headHash: prevHash }));
  return lines;
}

async function* linesOf(lines: string[]) {
  yield* lines;
}
const verify = (lines: string[], publicKeys = keys) => verifyExport(linesOf(lines), publicKeys);
const edit = (lines: string[], index: number, change: (value: Record<string, unknown>) => void) => {
  const copy = [...lines];
  const value = JSON.parse(copy[index]!);
  change(value);
  copy[index] = JSON.stringify(value);
  return copy;
};

describe('offline verification of an access-log export', () => {
  it('passes a genuine export with only the public key, saying how far it is signed', async () => {
    const result = await verify(genuineExport(5, [2]));
    expect(result).toMatchObject({ ok: true, tenantId: TENANT, entries: 5, checkpoints: 2, problem: null });
    expect(result.signedUpTo).toEqual({ seq: 5, at: '2026-01-01T00:01:00.000Z', keyId });
  });

  it('fails on one changed byte of an entry, naming its line', async () => {
    const lines = genuineExport(5, [2]);
    const changed = [...lines];
    changed[4] = changed[4]!.replace('"r3"', '"r4"'); // entry 3 (header, 1, 2, checkpoint, 3)
    expect((await verify(changed)).problem).toEqual({ line: 5, message: 'entry 3 does not match its hash (it was changed)' });
  });

  it('fails on a removed entry line, a removed tail and a removed trailer', async () => {
    const lines = genuineExport(5, [2]);
    expect((await verify(lines.filter((_, i) => i !== 5))).problem).toMatchObject({ line: 6, message: expect.stringContaining('entry 4 is missing') });
    // Cutting the tail and the final checkpoint, even with a trailer rewritten to match, leaves the end unsigned.
    const cut = lines.slice(0, 5); // header, 1, 2, checkpoint of 2, 3
    const trailer = JSON.stringify({ type: 'trailer', entries: 3, checkpoints: 1, headSeq: 3, headHash: JSON.parse(lines[4]!).hash });
    expect((await verify([...cut, trailer])).problem).toMatchObject({ line: 6, message: expect.stringContaining('not signed by a checkpoint') });
    expect((await verify(lines.slice(0, -1))).problem).toMatchObject({ message: expect.stringContaining('without its trailer') });
  });

  it('fails on a checkpoint whose signature, seq or time was changed, or that follows another entry', async () => {
    const lines = genuineExport(4, [2]);
    const flipped = edit(lines, 3, (c) => {
      const signature = Buffer.from(c.signature as string, 'base64url');
      signature[0]! ^= 1;
      c.signature = signature.toString('base64url');
    });
    expect((await verify(flipped)).problem).toMatchObject({ line: 4, message: expect.stringContaining('signature that does not verify') });
    expect((await verify(edit(lines, 3, (c) => (c.at = '2027-01-01T00:00:00.000Z')))).problem?.line).toBe(4);
    const moved = [...lines];
    [moved[3], moved[4]] = [moved[4]!, moved[3]!]; // the checkpoint of entry 2 after entry 3
    expect((await verify(moved)).problem).toMatchObject({ line: 5, message: expect.stringContaining('does not sign the entry before it') });
  });

  it('fails without the signing key, with another key, and on an entry with an unsigned extra field', async () => {
    const lines = genuineExport(2);
    expect((await verify(lines, new Map())).problem?.message).toContain('not among the public keys given');
    expect((await verify(lines, new Map([[keyId, generateEd25519().publicKey]]))).problem?.message).toContain('does not verify');
    expect((await verify(edit(lines, 1, (e) => (e.note = 'x')))).problem).toMatchObject({ line: 2, message: expect.stringContaining('"note"') });
  });

  it('fails on what is not an export, and on lines after the trailer', async () => {
    expect((await verify(['{"type":"entry"}'])).problem).toMatchObject({ line: 1, message: expect.stringContaining('not an access-log export') });
    expect((await verify(['not json'])).problem).toMatchObject({ line: 1, message: 'not a JSON object' });
    const lines = genuineExport(1);
    expect((await verify([...lines, lines[1]!])).problem).toMatchObject({ line: lines.length + 1, message: 'a line follows the trailer' });
  });
});

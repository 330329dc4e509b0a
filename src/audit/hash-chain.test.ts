import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import type { AccessLogEntry } from './access-event.js';
import { entryHash, genesisHash } from './hash-chain.js';

const entry = {
  seq: 1,
  at: '2026-01-01T00:00:00.000Z',
  actor: { type: 'member' as const, id: 'u1' },
  action: 'read' as const,
  resource: { type: 'record', collection: 'c', id: 'r1' },
  ip: '127.0.0.1',
  prevHash: genesisHash('t1'),
};

describe('hash chain', () => {
  it('is deterministic and independent of key order', () => {
    const reordered = { prevHash: entry.prevHash, ip: entry.ip, resource: { id: 'r1', type: 'record', collection: 'c' }, action: entry.action, actor: entry.actor, at: entry.at, seq: 1 };
    expect(entryHash('t1', entry)).toBe(entryHash('t1', reordered));
    expect(entryHash('t1', entry)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['seq', { seq: 2 }],
    ['time', { at: '2026-01-01T00:00:00.001Z' }],
    ['actor', { actor: { type: 'member' as const, id: 'u2' } }],
    ['action', { action: 'update' as const }],
    ['resource', { resource: { type: 'record', collection: 'c', id: 'r2' } }],
    ['details', { details: { ids: ['x'] } }],
    ['ip', { ip: '10.0.0.1' }],
    ['previous hash', { prevHash: 'f'.repeat(64) }],
  ])('changes when the %s changes', (_name, change) => {
    expect(entryHash('t1', { ...entry, ...change })).not.toBe(entryHash('t1', entry));
  });

  it('differs per tenant, from the genesis on', () => {
    expect(genesisHash('t1')).not.toBe(genesisHash('t2'));
    expect(entryHash('t1', entry)).not.toBe(entryHash('t2', entry));
  });

  // The hash writes the entry's canonical JSON out by hand for speed: it must stay byte for byte
  // what the general RFC 8785 canonicaliser gives for the same fields, or old chains stop verifying.
  it.each([
    ['a member read', {}],
    ['a staff read under a grant', { actor: { type: 'staff' as const, id: 's1' }, grantId: 'g1', justification: 'Ticket #4521: “refund” \\ "quoted"' }],
    ['a list with details', { action: 'list' as const, resource: { type: 'collection', collection: 'c' }, details: { ids: ['b', 'a'], z: { y: 1, x: [true, null, 2.5] }, é: 'ü\u0000\u001f' } }],
    ['empty details', { details: {} }],
    ['no collection or id', { resource: { type: 'collections' } }],
    ['unusual text', { ip: '2001:db8::1', at: '2026-12-31T23:59:59.999Z', resource: { type: 'record', collection: 'c', id: '\ud83d\ude00 \u2028 \ud800' } }],
    ['a large seq', { seq: 9_007_199_254_740_991 }],
  ])('equals the general canonicaliser over the same fields: %s', (_name, change) => {
    const changed: Omit<AccessLogEntry, 'hash'> = { ...entry, ...change };
    const reference = createHash('sha256')
      .update(
        canonicalJson({
          tenantId: 't1',
          seq: changed.seq,
          at: changed.at,
          actor: changed.actor,
          action: changed.action,
          resource: { type: changed.resource.type, collection: changed.resource.collection ?? null, id: changed.resource.id ?? null },
          details: changed.details ?? null,
          grantId: changed.grantId ?? null,
          justification: changed.justification ?? null,
          ip: changed.ip,
          prevHash: changed.prevHash,
        }),
        'utf8',
      )
      .digest('hex');
    expect(entryHash('t1', changed)).toBe(reference);
  });
});

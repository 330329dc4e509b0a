import { describe, expect, it } from 'vitest';
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
});

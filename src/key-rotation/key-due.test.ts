import { describe, expect, it } from 'vitest';
import { keyDue, type DuePolicy, type VersionValues } from './key-due.js';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();

function version(overrides: Partial<VersionValues>): VersionValues {
  return {
    version: 1,
    state: 'active',
    algorithm: 'A256GCM',
    masterKeyId: '0123456789abcdef',
    createdAt: daysAgo(10),
    activatedAt: null,
    retiredAt: null,
    destroyedAt: null,
    values: 0,
    valuesByAlgorithm: {},
    ...overrides,
  };
}
const policy = (overrides: Partial<DuePolicy> = {}): DuePolicy => ({ now: NOW, maxAgeDays: 365, primaryAlgorithm: 'A256GCM', rotating: false, ...overrides });

describe('keyDue: whether a data key wants a rotation, and why', () => {
  it('is not due for a fresh key whose values are all under it with the primary cipher', () => {
    expect(keyDue([version({ values: 3, valuesByAlgorithm: { A256GCM: 3 } })], policy())).toEqual({ ageDays: 10, due: false, dueReasons: [] });
  });

  it('counts the age from the activation (a version made ahead as next does not age unused), in whole days', () => {
    const active = version({ createdAt: daysAgo(500), activatedAt: daysAgo(365) });
    expect(keyDue([active], policy())).toMatchObject({ ageDays: 365, due: false });
    expect(keyDue([active], policy({ now: new Date(NOW.getTime() + 86_400_000) }))).toMatchObject({
      ageDays: 366,
      due: true,
      dueReasons: ['the active version 1 is 366 days old, more than the maximum of 365 days (CONFIDE_KEY_MAX_AGE_DAYS)'],
    });
  });

  it('is never due by age with the maximum off', () => {
    expect(keyDue([version({ createdAt: daysAgo(10_000) })], policy({ maxAgeDays: null }))).toMatchObject({ ageDays: 10_000, due: false });
  });

  it('is due while a retired version still protects values and no re-encryption runs; not while one runs', () => {
    const versions = [version({ state: 'retired', values: 1, valuesByAlgorithm: { A256GCM: 1 } }), version({ version: 2 })];
    expect(keyDue(versions, policy()).dueReasons).toEqual(['the retired version 1 still protects 1 value and no re-encryption is running']);
    expect(keyDue(versions, policy({ rotating: true })).due).toBe(false);
    expect(keyDue([version({ state: 'destroyed' }), version({ version: 2 })], policy()).due).toBe(false);
  });

  it('is due while values are sealed with a cipher other than the primary one, whatever the version records', () => {
    const switched = [version({ values: 5, valuesByAlgorithm: { A256GCM: 3, C20P1305: 2 } })];
    expect(keyDue(switched, policy({ primaryAlgorithm: 'C20P1305' })).dueReasons).toEqual([
      '3 values are sealed with A256GCM, not the primary cipher C20P1305 (CONFIDE_DATA_CIPHER), and no re-encryption is running',
    ]);
    // A version made ahead records the cipher of its day; once its values are all under the primary one, nothing is due.
    expect(keyDue([version({ algorithm: 'A256GCM', values: 2, valuesByAlgorithm: { C20P1305: 2 } })], policy({ primaryAlgorithm: 'C20P1305' })).due).toBe(false);
  });
});

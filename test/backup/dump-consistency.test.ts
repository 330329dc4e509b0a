import { afterEach, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../../src/backup/database-dump.js';
import type { DumpLine, DumpValue } from '../../src/backup/dump-format.js';
import { genesisHash } from '../../src/audit/hash-chain.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { insertRecords } from '../harness/bulk-records.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { dumpOptionsFor } from './dump-fixture.js';

/** A table of the dump as objects (column → value). */
function tableOf(lines: DumpLine[], table: string): Record<string, DumpValue>[] {
  const start = lines.findIndex((line) => line.t === 'table' && line.table === table);
  const opened = lines[start] as Extract<DumpLine, { t: 'table' }>;
  const rows: Record<string, DumpValue>[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.t !== 'row') break;
    rows.push(Object.fromEntries(opened.columns.map((column, i) => [column, line.v[i]!])));
  }
  return rows;
}

/** Each tenant's chain in the dump is whole: seq 1..n, each entry linked to the one before, the head on the last. */
function expectWholeChains(lines: DumpLine[]): number {
  const heads = new Map(tableOf(lines, 'access_log_heads').map((head) => [head.tenant_id as string, head]));
  const byTenant = new Map<string, Record<string, DumpValue>[]>();
  for (const entry of tableOf(lines, 'access_log')) byTenant.set(entry.tenant_id as string, [...(byTenant.get(entry.tenant_id as string) ?? []), entry]);
  expect(byTenant.size).toBe(heads.size);
  for (const [tenantId, entries] of byTenant) {
    entries.forEach((entry, i) => {
      expect(entry.seq).toBe(i + 1);
      expect(entry.prev_hash).toBe(i === 0 ? genesisHash(tenantId) : entries[i - 1]!.hash);
    });
    expect(heads.get(tenantId)).toMatchObject({ seq: entries.length, hash: entries.at(-1)!.hash });
  }
  return byTenant.size;
}

describe.each(DIALECTS)('a dump taken while the server writes, on %s', (dialect) => {
  let t: TestApp;
  afterEach(() => t.close());

  it('holds every record acknowledged before it began, none of its access-log entries without its record, and whole chains', async () => {
    t = await createTestApp(dialect);
    const owner = await buildTenant(t);
    await buildRecord(t, owner, 'bulk');
    // Enough rows that the dump takes many batches, so the writer gets in between them.
    await insertRecords(t.app.services.db, t.app.services.keyRing, owner.tenantId, 'bulk', 3000, t.clock.now().toISOString());
    const acknowledged: string[] = [];
    let stop = false;
    const writer = (async () => {
      while (!stop) acknowledged.push((await buildRecord(t, owner, 'patients')).id);
    })();
    while (acknowledged.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));

    const dump = dumpDatabase(t.app.services, dumpOptionsFor(t, 50));
    const before = [...acknowledged];
    const lines: DumpLine[] = [];
    for await (const line of dump) lines.push(line); // the snapshot is taken at the first line
    const writtenDuring = acknowledged.length - before.length;
    stop = true;
    await writer;

    const patients = tableOf(lines, 'records').filter((record) => record.collection === 'patients').map((record) => record.id as string);
    expect(patients).toEqual(expect.arrayContaining(before));
    expect(writtenDuring, 'the server went on writing while the dump ran').toBeGreaterThan(2);
    expect(acknowledged.filter((id) => !patients.includes(id)).length, 'writes after the snapshot are not in it').toBeGreaterThan(0);
    // Records and the access log are read one after the other, yet from one moment: each record
    // created has its entry, and no entry names a record the dump lacks.
    const logged = tableOf(lines, 'access_log').filter((entry) => entry.resource_type === 'record' && entry.resource_collection === 'patients' && entry.action === 'create');
    expect(logged.map((entry) => entry.resource_id).sort()).toEqual([...patients].sort());
    expect(expectWholeChains(lines)).toBeGreaterThan(0);
  });
});

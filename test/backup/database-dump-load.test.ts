import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatabase } from '../../src/backup/database-load.js';
import { migrateToLatest } from '../../src/db/database.js';
import type { DumpLine, RowLine } from '../../src/backup/dump-format.js';
import { buildMember, buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { DIALECTS } from '../harness/dialects.js';
import { insertGrantFixture } from '../harness/grant-fixture.js';
import { buildStaff } from '../harness/staff.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { contentOf, dumpOf, dumpOfDatabase, emptyDatabase, rowCounts, summariesOf } from './dump-fixture.js';

/** A deployment with a bit of everything, made through the API: tenants, members, records, a file, api keys, staff and a grant. */
async function populate(t: TestApp): Promise<{ owner: TestTenant; recordId: string }> {
  const owner = await buildTenant(t);
  await buildMember(t, owner, 'admin');
  const other = await buildTenant(t);
  const record = await buildRecord(t, owner, 'patients', { name: 'Ada Lovelace', note: 'é ✓ 𝄞' });
  await buildRecord(t, other);
  const file = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/scan.pdf`, token: owner.token, payload: Buffer.from('%PDF-1.4 backup test'), headers: { 'content-type': 'application/pdf' } });
  expect(file.statusCode, file.body).toBe(201);
  const key = await t.request({ method: 'POST', url: '/v1/api-keys', token: owner.token, payload: { name: 'ETL', scope: 'read' } });
  expect(key.statusCode, key.body).toBe(201);
  const staff = await buildStaff(t);
  await insertGrantFixture(t, { tenantId: owner.tenantId, staffId: staff.id });
  expect((await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: owner.token })).statusCode).toBe(200);
  return { owner, recordId: record.id };
}

const rowLines = (lines: DumpLine[]) => lines.filter((line): line is RowLine => line.t === 'row');

describe.each(DIALECTS)('dumping and loading a database (src/backup) on %s', (dialect) => {
  let t: TestApp;
  let owner: TestTenant;
  let recordId: string;
  let dump: DumpLine[];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    ({ owner, recordId } = await populate(t));
    dump = await dumpOf(t);
  });
  afterAll(() => t.close());

  it('loads into a fresh database row for row, and the loaded deployment serves: a record reads back, the access log verifies', async () => {
    const target = await emptyDatabase(dialect, t.app.services.masterKey);
    try {
      const loaded = await loadDatabase(target.database, dump);
      expect(loaded).toEqual(summariesOf(dump));
      for (const table of ['tenants', 'users', 'memberships', 'records', 'access_log', 'api_keys', 'record_files', 'staff', 'access_grants', 'key_ring']) {
        expect(loaded.find((summary) => summary.table === table)!.rows, table).toBeGreaterThan(0);
      }
      const reloaded = await dumpOfDatabase(target, t.app.services.masterKey);
      expect(contentOf(reloaded)).toEqual(contentOf(dump));
      await target.database.close();
      // The blobs are the archive's business (A); copied here so the file reads back too.
      if (existsSync(join(t.dataDir, 'files'))) cpSync(join(t.dataDir, 'files'), join(target.dataDir, 'files'), { recursive: true });
      const restored = await createTestApp(dialect, { env: { ...t.env, ...target.env } });
      try {
        const read = await restored.request({ method: 'GET', url: `/v1/collections/patients/records/${recordId}`, token: owner.token });
        expect(read.statusCode, read.body).toBe(200);
        expect(read.json().data).toEqual({ name: 'Ada Lovelace', note: 'é ✓ 𝄞' });
        const file = await restored.request({ method: 'GET', url: `/v1/collections/patients/records/${recordId}/files/scan.pdf`, token: owner.token });
        expect(file.rawPayload.toString()).toBe('%PDF-1.4 backup test');
        const verified = await restored.request({ method: 'GET', url: '/v1/access-log/verify', token: owner.token });
        expect(verified.statusCode, verified.body).toBe(200);
        expect(verified.json()).toMatchObject({ ok: true });
        expect(verified.json().entries).toBeGreaterThan(2);
      } finally {
        await restored.close();
      }
    } finally {
      await target.dispose();
    }
  });

  it('refuses a dump with a changed row, or a dropped one, naming the table, and leaves the database empty', async () => {
    const records = dump.findIndex((line) => line.t === 'table' && line.table === 'records');
    const changed = dump.map((line, i) => (i === records + 1 ? { t: 'row' as const, v: (line as RowLine).v.map((value) => (value === recordId ? `${recordId}x` : value)) } : line));
    expect(changed).not.toEqual(dump);
    const dropped = dump.filter((_, i) => i !== records + 1);
    for (const tampered of [changed, dropped]) {
      const target = await emptyDatabase(dialect, t.app.services.masterKey, true);
      try {
        await expect(loadDatabase(target.database, tampered)).rejects.toThrow(/^table records does not match its checksum/);
        expect(Object.values(await rowCounts(target.database)).every((n) => n === 0)).toBe(true);
      } finally {
        await target.dispose();
      }
    }
  });

  it('refuses a database that holds rows, and a dump from a newer release', async () => {
    const target = await emptyDatabase(dialect, t.app.services.masterKey);
    try {
      await loadDatabase(target.database, dump);
      await expect(loadDatabase(target.database, dump)).rejects.toThrow(/not empty \(table system_meta has rows\)/);
      const newer = [{ t: 'schema' as const, dialect, migration: '9999-from-the-future' }, ...dump.slice(1)];
      await expect(loadDatabase(target.database, newer)).rejects.toThrow(/migration 9999-from-the-future, which this release does not know/);
    } finally {
      await target.dispose();
    }
  });

  it('loads a dump of an older release (before 0013) at its own migration, which then migrates forward; a database already past it refuses', async () => {
    const files = dump.findIndex((line) => line.t === 'table' && line.table === 'record_files');
    const filesEnd = dump.findIndex((line, i) => i > files && line.t === 'end');
    const older: DumpLine[] = [{ t: 'schema', dialect, migration: '0012-next-key-versions' }, ...dump.slice(1, files), ...dump.slice(filesEnd + 1)];
    const target = await emptyDatabase(dialect, t.app.services.masterKey);
    const latest = await emptyDatabase(dialect, t.app.services.masterKey, true);
    try {
      const loaded = await loadDatabase(target.database, older);
      expect(loaded.map((summary) => summary.table)).not.toContain('record_files');
      await migrateToLatest(target.database);
      const counts = await rowCounts(target.database);
      expect(counts.record_files).toBe(0);
      expect(counts.records).toBe(summariesOf(dump).find((summary) => summary.table === 'records')!.rows);
      await expect(loadDatabase(latest.database, older)).rejects.toThrow(/already at migration 0013-record-files, past the dump's 0012-next-key-versions/);
      // The current dump cannot pass for an older one: its extra table is refused.
      const misdated = [{ t: 'schema' as const, dialect, migration: '0012-next-key-versions' }, ...dump.slice(1)];
      const other = await emptyDatabase(dialect, t.app.services.masterKey);
      await expect(loadDatabase(other.database, misdated)).rejects.toThrow(/table this code does not know at its migration: record_files/);
      expect(Object.values(await rowCounts(other.database)).every((n) => n === 0)).toBe(true);
      await other.dispose();
    } finally {
      await target.dispose();
      await latest.dispose();
    }
  });

  it('spells every value the same way on both stores: text, safe integers, null (no bytes column exists)', () => {
    for (const line of rowLines(dump)) {
      for (const value of line.v) expect(value === null || typeof value === 'string' || Number.isSafeInteger(value), JSON.stringify(value)).toBe(true);
    }
  });
});

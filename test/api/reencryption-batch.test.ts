import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { insertRecords } from '../harness/key-fixture.js';
import type { DB } from '../../src/db/schema.js';
import { columnsOwnedBy, readBatch, resealRows, type ColumnField } from '../../src/key-rotation/column-walk.js';

/**
 * One batch of the walk through `resealRows` on each dialect (PostgreSQL sends the whole batch as one
 * statement): rows a user rewrote between the walk's read and its update keep the user's value and
 * are not counted, on the three-text-column key of records and the text-and-integer key of the log.
 */
describe.each(DIALECTS)('re-sealing a batch on %s', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect);
  });
  afterEach(async () => {
    await t.close();
  });

  const fieldOf = (owner: TestTenant, name: string): ColumnField => columnsOwnedBy(owner.tenantId).find((f) => f.name === name)!;
  const openAll = async (owner: TestTenant, field: ColumnField, rows: Array<Record<string, unknown>>) => {
    const cipher = await t.app.services.keyRing.cipherFor(owner.tenantId);
    return rows.map((row) => cipher.decrypt(row[field.column] as string, field.location(row)));
  };

  it('re-seals every record read but those a user rewrote after the read, and counts only its own', async () => {
    const { db, keyRing, dialect: storeDialect } = t.app.services;
    const owner = await buildTenant(t);
    await buildRecord(t, owner, 'visits', { name: 'first' });
    await insertRecords(db, keyRing, owner.tenantId, 'visits', 60, t.clock.now().toISOString());
    await keyRing.rotate(owner.tenantId);
    const field = fieldOf(owner, 'recordsData');
    const rows = await readBatch(db, field, owner.tenantId, null, 1000);
    expect(rows).toHaveLength(61);
    const before = await openAll(owner, field, rows);

    const raced = [rows[0]!, rows[30]!, rows[60]!];
    for (const row of raced) {
      const put = await t.request({ method: 'PUT', url: `/v1/collections/visits/records/${String(row.id)}`, token: owner.token, payload: { name: `user-${String(row.id)}` } });
      expect(put.statusCode, put.body).toBe(200);
    }
    const resealed = await resealRows(db, storeDialect, field, await keyRing.cipherFor(owner.tenantId), rows);
    expect(resealed).toBe(58);

    const after = await readBatch(db, field, owner.tenantId, null, 1000);
    expect(after.map((row) => String(row[field.column]).split('.')[2])).toEqual(after.map(() => '2'));
    const opened = await openAll(owner, field, after);
    after.forEach((row, i) => {
      const wasRaced = raced.some((r) => r.id === row.id);
      expect(JSON.parse(opened[i]!)).toEqual(wasRaced ? { name: `user-${String(row.id)}` } : JSON.parse(before[i]!));
    });
  });

  it('re-seals the access log by its text-and-integer key (PostgreSQL: a typed array each), and leaves an entry rewritten after the read alone', async () => {
    const { db, keyRing, dialect: storeDialect } = t.app.services;
    const owner = await buildTenant(t);
    const other = await buildTenant(t);
    for (let i = 0; i < 5; i += 1) await buildRecord(t, owner, 'visits');
    await buildRecord(t, other, 'visits');
    await keyRing.rotate(owner.tenantId);
    const field = fieldOf(owner, 'accessLogIp');
    const rows = await readBatch(db, field, owner.tenantId, null, 1000);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const before = await openAll(owner, field, rows);

    // Another writer seals a new value into one entry under the new version after the walk read it.
    const cipher = await keyRing.cipherFor(owner.tenantId);
    const target = rows[2]!;
    await db
      .updateTable('access_log')
      .set({ ip_enc: cipher.encrypt('203.0.113.9', field.location(target)) })
      .where('tenant_id', '=', owner.tenantId)
      .where('seq', '=', Number(target.seq))
      .execute();
    const othersBefore = await db.selectFrom('access_log').select('ip_enc').where('tenant_id', '=', other.tenantId).orderBy('seq').execute();

    expect(await resealRows(db, storeDialect, field, cipher, rows)).toBe(rows.length - 1);
    const after = await readBatch(db, field, owner.tenantId, null, 1000);
    expect(after.map((row) => Number(row.seq))).toEqual(rows.map((row) => Number(row.seq)));
    expect(after.every((row) => String(row[field.column]).split('.')[2] === '2')).toBe(true);
    expect(await openAll(owner, field, after)).toEqual(before.map((ip, i) => (i === 2 ? '203.0.113.9' : ip)));
    // Another tenant's entries with the same sequence numbers are not touched.
    expect(await db.selectFrom('access_log').select('ip_enc').where('tenant_id', '=', other.tenantId).orderBy('seq').execute()).toEqual(othersBefore);
  });
});

// PostgreSQL only: only there is a batch sent as one statement (SQLite keeps one per value, see column-walk.ts); skipped when a run covers SQLite alone.
describe.skipIf(!DIALECTS.includes('postgres'))('re-sealing a batch on PostgreSQL, by statements', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp('postgres');
  });
  afterEach(async () => {
    await t.close();
  });

  it('sends the whole batch as one UPDATE, not one per value', async () => {
    const { keyRing, config } = t.app.services;
    if (config.database.kind !== 'postgres') throw new Error('expected PostgreSQL');
    const owner = await buildTenant(t);
    await buildRecord(t, owner, 'visits');
    await insertRecords(t.app.services.db, keyRing, owner.tenantId, 'visits', 40, t.clock.now().toISOString());
    await keyRing.rotate(owner.tenantId);
    // A second connection to the same schema whose log sees every statement the walk sends.
    const statements: string[] = [];
    const watched = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: config.database.url, max: 1 }) }),
      log: (event) => {
        statements.push(event.query.sql.trim().split(/\s+/)[0]!.toLowerCase());
      },
    });
    try {
      const field = columnsOwnedBy(owner.tenantId).find((f) => f.name === 'recordsData')!;
      const rows = await readBatch(watched, field, owner.tenantId, null, 1000);
      expect(rows).toHaveLength(41);
      statements.length = 0;
      expect(await resealRows(watched, t.app.services.dialect, field, await keyRing.cipherFor(owner.tenantId), rows)).toBe(41);
      expect(statements.filter((s) => s === 'update')).toEqual(['update']);
    } finally {
      await watched.destroy();
    }
  });
});

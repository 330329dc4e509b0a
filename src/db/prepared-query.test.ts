import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEncryptedSqlite } from './open-encrypted-sqlite.js';
import { preparedQuery } from './prepared-query.js';
import type { DB } from './schema.js';

describe('preparedQuery', () => {
  let dir: string;
  let db: Kysely<DB>;
  let compilations: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'confide-pq-'));
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: openEncryptedSqlite(join(dir, 'x.db'), randomBytes(32)) }) });
    await sql`create table system_meta (key text primary key, value text not null)`.execute(db);
    await db.insertInto('system_meta').values([{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }]).execute();
    compilations = 0;
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const byKeys = preparedQuery(
    (kysely: Kysely<DB>, first: string, second: string) => {
      compilations += 1;
      return kysely.selectFrom('system_meta').select(['key', 'value']).where('key', 'in', [first, second]).orderBy('key');
    },
    2,
  );

  it('runs with each call’s values and builds the query once', async () => {
    expect(await byKeys(db, 'a', 'c')).toEqual([{ key: 'a', value: '1' }, { key: 'c', value: '3' }]);
    expect(await byKeys(db, 'b', 'zzz')).toEqual([{ key: 'b', value: '2' }]);
    expect(compilations).toBe(1);
  });

  it('serves a transaction with the same compilation, and sees its writes', async () => {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('system_meta').values({ key: 'd', value: '4' }).execute();
      expect(await byKeys(trx, 'd', 'a')).toEqual([{ key: 'a', value: '1' }, { key: 'd', value: '4' }]);
    });
  });

  it('refuses a builder that leaves a placeholder unused (it would silently drop a value)', async () => {
    const broken = preparedQuery((kysely: Kysely<DB>, _unused: string) => kysely.selectFrom('system_meta').select('key'), 1);
    await expect(broken(db, 'x')).rejects.toThrow(/placeholder/);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEncryptedSqlite } from './open-encrypted-sqlite.js';
import { preparedCommand, preparedQuery } from './prepared-query.js';
import { directSqlite, registerDirectSqlite } from './direct-sqlite.js';
import { withStatementCache } from './statement-cache.js';
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

  describe('on the embedded handle directly', () => {
    let direct: Kysely<DB>;
    let dirDirect: string;
    let prepared: number;
    beforeEach(async () => {
      dirDirect = mkdtempSync(join(tmpdir(), 'confide-pq-direct-'));
      const handle = openEncryptedSqlite(join(dirDirect, 'x.db'), randomBytes(32));
      const statements = withStatementCache(handle);
      prepared = 0;
      direct = new Kysely<DB>({ dialect: new SqliteDialect({ database: statements }) });
      registerDirectSqlite(direct, directSqlite(handle, (text) => ((prepared += 1), statements.prepare(text))));
      await sql`create table system_meta (key text primary key, value text not null)`.execute(direct);
      await direct.insertInto('system_meta').values([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]).execute();
    });
    afterEach(async () => {
      await direct.destroy();
      rmSync(dirDirect, { recursive: true, force: true });
    });
    const setValue = preparedCommand((kysely: Kysely<DB>, value: string, key: string) => kysely.updateTable('system_meta').set({ value }).where('key', '=', key), 2);

    it('runs queries and commands on the handle, and counts the rows a command changed', async () => {
      expect(await byKeys(direct, 'a', 'b')).toEqual([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
      expect(prepared).toBe(1);
      expect(await setValue(direct, '9', 'a')).toBe(1);
      expect(await setValue(direct, '9', 'nobody')).toBe(0);
      expect(prepared).toBe(3);
      expect(await byKeys(direct, 'a', 'zzz')).toEqual([{ key: 'a', value: '9' }]);
    });

    it('gives rows as better-sqlite3 would, and leaves the shared statement giving objects to Kysely', async () => {
      // The direct path reads raw values and builds the objects itself: the same keys, values and
      // types as all(), a later column of the same name winning, and the statement back out of raw mode.
      const build = (kysely: Kysely<DB>, key: string) =>
        kysely.selectFrom('system_meta').select(['key', 'value', sql<number>`length(value)`.as('n'), sql<null>`null`.as('value')]).where('key', '=', key);
      const both = preparedQuery(build, 1);
      const statementSql = build(direct, 'a').compile().sql; // the text, and so the cached statement, both share
      const expected = [{ key: 'a', value: null, n: 1 }];
      const rows = await both(direct, 'a');
      expect(rows).toEqual(expected);
      expect(Object.keys(rows[0]!)).toEqual(['key', 'value', 'n']);
      expect((await direct.executeQuery(CompiledQuery.raw(statementSql, ['a']))).rows).toEqual(expected);
      // A direct read that fails (a value SQLite cannot bind) leaves the statement out of raw mode too.
      await expect(both(direct, { not: 'bindable' })).rejects.toThrow();
      expect((await direct.executeQuery(CompiledQuery.raw(statementSql, ['a']))).rows).toEqual(expected);
      await expect(both(direct, 'a')).resolves.toEqual(expected);
    });

    it('runs in the open transaction through it, and waits for it through the database', async () => {
      let seenOutside: unknown;
      await direct.transaction().execute(async (trx) => {
        expect(await setValue(trx, 'in-trx', 'b')).toBe(1);
        expect(await byKeys(trx, 'b', 'zzz')).toEqual([{ key: 'b', value: 'in-trx' }]);
        void byKeys(direct, 'b', 'zzz').then((rows) => (seenOutside = rows));
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(seenOutside).toBeUndefined(); // still waiting: it must not read the uncommitted row
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seenOutside).toEqual([{ key: 'b', value: 'in-trx' }]);
    });
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEncryptedSqlite } from './open-encrypted-sqlite.js';
import { withStatementCache } from './statement-cache.js';
import { directSqlite, directSqliteFor, registerDirectSqlite } from './direct-sqlite.js';
import { afterCommit } from './after-commit.js';
import { transactionRunner } from './transaction-runner.js';
import { SQLITE } from './store-dialect.js';
import type { DB } from './schema.js';

// Both ways a batch's savepoints can run: through Kysely, and on the embedded handle directly (as Confide's own database does).
describe.each([
  { way: 'through Kysely', direct: false },
  { way: 'on the handle directly', direct: true },
])('group commit on SQLite, savepoints $way', ({ direct }) => {
  let dir: string;
  let db: Kysely<DB>;
  let commits: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'confide-gc-'));
    commits = 0;
    const handle = openEncryptedSqlite(join(dir, 'x.db'), randomBytes(32));
    const statements = withStatementCache(handle);
    db = new Kysely<DB>({
      dialect: new SqliteDialect({ database: statements }),
      log: (event) => {
        if (event.level === 'query' && event.query.sql === 'commit') commits += 1;
      },
    });
    if (direct) registerDirectSqlite(db, directSqlite(handle, (text) => statements.prepare(text)));
    await sql`create table system_meta (key text primary key, value text not null)`.execute(db);
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (key: string) => (trx: Kysely<DB>) => trx.insertInto('system_meta').values({ key, value: 'v' }).execute().then(() => key);
  const keys = async () => (await db.selectFrom('system_meta').select('key').orderBy('key').execute()).map((row) => row.key);

  it('commits concurrent units together: fewer commits than units, every unit durable', async () => {
    const runner = SQLITE.transactionRunner(db);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.run(put(`k${String(i).padStart(2, '0')}`))));
    expect(results).toHaveLength(20);
    expect(await keys()).toHaveLength(20);
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(20);
  });

  it('takes into a batch what the next turn of the event loop brings (the clients answered last turn)', async () => {
    const runner = SQLITE.transactionRunner(db);
    const first = runner.run(put('first'));
    // Queued by a callback of the next turn, as a request read then would be.
    const next = new Promise<string>((resolve, reject) => setImmediate(() => void runner.run(put('next')).then(resolve, reject)));
    await expect(Promise.all([first, next])).resolves.toEqual(['first', 'next']);
    expect(commits).toBe(1);
  });

  it('rolls back a failing unit alone; the others in its batch commit', async () => {
    const runner = SQLITE.transactionRunner(db);
    const failing = runner.run(async (trx) => {
      await put('doomed')(trx);
      throw new Error('unit failed');
    });
    const ok = [runner.run(put('a')), runner.run(put('b'))];
    await expect(failing).rejects.toThrow('unit failed');
    await expect(Promise.all(ok)).resolves.toEqual(['a', 'b']);
    expect(await keys()).toEqual(['a', 'b']);
  });

  it('does not resolve a unit before its batch has committed', async () => {
    const runner = SQLITE.transactionRunner(db);
    let committedBeforeResolve = -1;
    await runner.run(put('x')).then(() => {
      committedBeforeResolve = commits;
    });
    expect(committedBeforeResolve).toBe(1);
  });

  it('keeps a duplicate key a per-unit failure', async () => {
    const runner = SQLITE.transactionRunner(db);
    const [first, second] = await Promise.allSettled([runner.run(put('same')), runner.run(put('same'))]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    expect(await keys()).toEqual(['same']);
  });

  it('gives each unit its own after-commit callbacks: a unit rolled back alone never runs its own', async () => {
    const runner = transactionRunner(db, SQLITE);
    const ran: string[] = [];
    const unit = (key: string, fail: boolean) =>
      runner.run(async (trx) => {
        await put(key)(trx);
        afterCommit(trx, () => ran.push(key));
        if (fail) throw new Error(`${key} failed`);
        return key;
      });
    const outcomes = await Promise.allSettled([unit('a', false), unit('b', true), unit('c', false)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(commits).toBe(1); // one batch: the three shared a transaction
    expect(ran.sort()).toEqual(['a', 'c']);
    expect(await keys()).toEqual(['a', 'c']);
  });

  it('never lets a statement on the database itself run inside an open batch (it would read uncommitted rows)', async () => {
    const runner = SQLITE.transactionRunner(db);
    let seenFromOutside: string[] | undefined;
    let outsideWasDirect: boolean | undefined;
    await runner.run(async (trx) => {
      await put('uncommitted')(trx);
      outsideWasDirect = directSqliteFor(db) !== undefined;
      // Not awaited inside: it may only run once this transaction has ended.
      void keys().then((seen) => (seenFromOutside = seen));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seenFromOutside).toBeUndefined();
      throw new Error('roll it back');
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outsideWasDirect).toBe(false);
    expect(seenFromOutside).toEqual([]);
    if (direct) expect(directSqliteFor(db)).toBeDefined(); // and once it has ended, the database is direct again
  });
});

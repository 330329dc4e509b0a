import type { SqliteDatabase } from 'kysely';
import type Database from 'better-sqlite3-multiple-ciphers';

const CAPACITY = 500;

/** Kysely's SQLite database, its statements better-sqlite3's own (direct-sqlite.ts reads them raw). */
export interface StatementCache extends SqliteDatabase {
  prepare(sql: string): Database.Statement;
}

/**
 * Kysely's SQLite driver prepares every statement anew; preparing costs more than running most
 * of Confide's queries. Queries are built from a fixed set of shapes with bound parameters, so a
 * small LRU of prepared statements serves nearly every call. Safe because better-sqlite3 runs a
 * statement to completion synchronously: no two uses of one statement overlap.
 */
export function withStatementCache(db: Database.Database): StatementCache {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string): Database.Statement {
      let statement = cache.get(sql);
      if (statement) {
        cache.delete(sql);
      } else {
        statement = db.prepare(sql);
        if (cache.size >= CAPACITY) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { findPostgresBinDir, startTemporaryPostgres } from '../test/harness/postgres-server.js';

/**
 * The PostgreSQL a bench runs against: the server named by CONFIDE_BENCH_DATABASE_URL (left as it
 * was found: each use gets a schema of its own, dropped afterwards), or else a throwaway cluster
 * started from the Debian packages' binaries, as the test run's global setup does (fsync on).
 */
export interface BenchPostgres {
  /** A fresh, empty schema on the server: the URL to give Confide (`search_path` set), and its removal. */
  freshSchema(): Promise<{ url: string; drop(): Promise<void> }>;
  stop(): void;
}

async function onServer(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export async function startBenchPostgres(givenUrl: string | undefined): Promise<BenchPostgres> {
  let url = givenUrl;
  let stop = () => undefined as void;
  if (!url) {
    const binDir = findPostgresBinDir();
    if (!binDir) throw new Error('PostgreSQL is not installed: run `apt-get install postgresql`, set CONFIDE_BENCH_DATABASE_URL, or pass --dialects sqlite');
    const server = await startTemporaryPostgres(binDir);
    url = server.url;
    stop = () => server.stop();
  }
  const base = url;
  return {
    async freshSchema() {
      const schema = `bench_${randomBytes(6).toString('hex')}`;
      await onServer(base, `CREATE SCHEMA ${schema}`);
      const withPath = new URL(base);
      withPath.searchParams.set('options', `-c search_path=${schema}`);
      return { url: withPath.toString(), drop: () => onServer(base, `DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
    },
    stop,
  };
}

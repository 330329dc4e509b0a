import type { TestProject } from 'vitest/node';
import { findPostgresBinDir, startTemporaryPostgres, type TemporaryPostgres } from './postgres-server.js';
import { findRedisServer, startTemporaryRedis, type TemporaryRedis } from './redis-server.js';
import { createSoftHsmToken, findSoftHsm, type SoftHsmToken } from './softhsm.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
    postgresBinDir: string | null;
    dialects: string[];
    /** A Redis for the shared rate-limit tests: CONFIDE_TEST_REDIS_URL, or one started here; null without redis-server. */
    redisUrl: string | null;
    /** A throwaway SoftHSM2 token for the PKCS#11 tests; null without softhsm2 (those tests then fail, saying so). */
    softHsm: SoftHsmToken | null;
  }
}

let postgres: TemporaryPostgres | undefined;
let redis: TemporaryRedis | undefined;

/**
 * Every integration suite runs on SQLite and on PostgreSQL. PostgreSQL comes from
 * CONFIDE_TEST_DATABASE_URL when set, otherwise a temporary cluster is started here.
 * CONFIDE_TEST_DIALECTS=sqlite narrows the run on a machine without PostgreSQL, and says so.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dialects = (process.env.CONFIDE_TEST_DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()).filter(Boolean);
  let url: string | null = null;
  const binDir = findPostgresBinDir() ?? null;
  if (dialects.includes('postgres')) {
    if (process.env.CONFIDE_TEST_DATABASE_URL) {
      url = process.env.CONFIDE_TEST_DATABASE_URL;
    } else {
      if (!binDir) {
        throw new Error('PostgreSQL is not installed: run `apt-get install postgresql`, set CONFIDE_TEST_DATABASE_URL, or set CONFIDE_TEST_DIALECTS=sqlite');
      }
      postgres = await startTemporaryPostgres(binDir);
      url = postgres.url;
    }
  } else {
    process.stdout.write(`\nNOTE: running on ${dialects.join(', ')} only (CONFIDE_TEST_DIALECTS)\n`);
  }
  project.provide('postgresUrl', url);
  project.provide('postgresBinDir', binDir);
  project.provide('dialects', dialects);
  // .ci/run starts Debian's redis-server and exports its URL; locally one is started if installed.
  if (!process.env.CONFIDE_TEST_REDIS_URL && findRedisServer()) redis = await startTemporaryRedis();
  project.provide('redisUrl', process.env.CONFIDE_TEST_REDIS_URL ?? redis?.url ?? null);
  const softHsmFound = findSoftHsm();
  const softHsm = softHsmFound ? createSoftHsmToken(softHsmFound) : undefined;
  project.provide('softHsm', softHsm ? { conf: softHsm.conf, module: softHsm.module, tokenLabel: softHsm.tokenLabel, pin: softHsm.pin } : null);
  // SoftHSM reads SOFTHSM2_CONF when a process initialises it: the test workers, and every `confide` they start, inherit it.
  if (softHsm) process.env.SOFTHSM2_CONF = softHsm.conf;
  return async () => {
    softHsm?.remove();
    await redis?.stop();
    postgres?.stop();
  };
}

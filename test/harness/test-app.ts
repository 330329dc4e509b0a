import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp, type App } from '../../src/app/create-app.js';
import { freshPostgresSchema, type TestDialect } from './dialects.js';
import { TestClock } from './test-clock.js';

export interface TestApp {
  app: App;
  dialect: TestDialect;
  clock: TestClock;
  dataDir: string;
  /** The environment Confide was started with (to start it again, or run the CLI against it). */
  env: Record<string, string>;
  /** Every log line Confide wrote, to check that no secret or customer value reaches the logs. */
  logs: string[];
  request(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
}

/**
 * Starts the real Confide (real storage, real keys, real crypto) in-process on a fresh data
 * directory and a fresh database, with a master key generated for this test.
 */
export async function createTestApp(dialect: TestDialect, options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(join(tmpdir(), 'confide-test-'));
  const dataDir = join(root, 'data');
  const env: Record<string, string> = {
    CONFIDE_DATA_DIR: dataDir,
    CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
    CONFIDE_LOG_LEVEL: 'info',
    ...(dialect === 'postgres' ? { CONFIDE_DATABASE_URL: (await freshPostgresSchema()).url } : {}),
    ...options.env,
  };
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const clock = new TestClock();
  const app = await createApp(loadConfig(env, root), { clock, logDestination, startWorkers: false });
  return {
    app,
    dialect,
    clock,
    dataDir,
    env,
    logs,
    request({ token, headers, ...rest }) {
      return app.publicServer.inject({
        ...rest,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      });
    },
    async close() {
      await app.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

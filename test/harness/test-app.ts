import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config/load-config.js';
import { createApp, type App } from '../../src/app/create-app.js';
import { createPostgresSchema, type TestDialect } from './dialects.js';
import { TestClock } from './test-clock.js';
import { HIGH_RATE_LIMITS } from './rate-limit-env.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from './smtp-sink.js';
import { readOutboxFile } from '../../src/mail/mail-transport.js';

export interface TestApp {
  app: App;
  dialect: TestDialect;
  clock: TestClock;
  dataDir: string;
  /** The loopback SMTP server receiving Confide's mail, when asked for. */
  smtp: SmtpSink | undefined;
  /** Delivers queued mail now, then returns what `email` has received so far (from the SMTP sink, or else the encrypted outbox). */
  mailTo(email: string): Promise<ReceivedMail[]>;
  /** The environment Confide was started with (to start it again, or run the CLI against it). */
  env: Record<string, string>;
  /** Every log line Confide wrote, to check that no secret or customer value reaches the logs. */
  logs: string[];
  request(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  /** The same, on the admin listener (staff and operations). */
  admin(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Deliver mail to a real SMTP server on loopback, kept as `t.smtp` (closed with the app). */
  smtp?: boolean;
}

/**
 * Starts the real Confide (real storage, real keys, real crypto) in-process on a fresh data
 * directory and a fresh database, with a master key generated for this test.
 */
export async function createTestApp(dialect: TestDialect, options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(join(tmpdir(), 'confide-test-'));
  const dataDir = join(root, 'data');
  const smtp = options.smtp ? await startSmtpSink() : undefined;
  const schema = dialect === 'postgres' ? await createPostgresSchema() : undefined;
  const env: Record<string, string> = {
    CONFIDE_DATA_DIR: dataDir,
    CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
    CONFIDE_LOG_LEVEL: 'info',
    ...HIGH_RATE_LIMITS,
    ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}),
    ...(smtp ? { CONFIDE_SMTP_URL: `smtp://127.0.0.1:${smtp.port}?tls=off` } : {}),
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
  const app = await createApp(loadConfig(env, root), { clock, logDestination, startWorkers: false, createIfMissing: true }).catch(
    async (error: unknown) => {
      await schema?.drop();
      throw error;
    },
  );
  return {
    app,
    dialect,
    clock,
    dataDir,
    env,
    logs,
    smtp,
    async mailTo(email) {
      await app.services.mail.kick();
      const received = smtp ? smtp.received : readOutbox(join(dataDir, 'outbox'), app);
      return received.filter((mail) => mail.to.includes(email));
    },
    request({ token, headers, ...rest }) {
      return app.publicServer.inject({
        ...rest,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      });
    },
    admin({ token, headers, ...rest }) {
      return app.adminServer.inject({
        ...rest,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      });
    },
    async close() {
      await app.close();
      await smtp?.close();
      await schema?.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The outbox folder's messages, decrypted, oldest first, in the SMTP sink's shape. */
function readOutbox(dir: string, app: App): ReceivedMail[] {
  if (!existsSync(dir)) return [];
  const cipher = app.services.keyRing.systemCipher();
  return readdirSync(dir)
    .filter((name) => name.endsWith('.eml.enc'))
    .sort()
    .map((name) => {
      const { eml } = readOutboxFile(readFileSync(join(dir, name), 'utf8'), cipher);
      const header = (field: string) => new RegExp(`^${field}: (.*)$`, 'mi').exec(eml)?.[1] ?? '';
      return { from: header('From'), to: [header('To')], raw: eml };
    });
}

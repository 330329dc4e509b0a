import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { startServerProcess, type ServerProcess } from '../harness/server-process.js';

/**
 * What a start loads: packages for rare paths (an S3 bucket, passkeys, making a certificate, Redis,
 * sending mail) are imported when first used, so `confide serve` without them, restarted again
 * and again by the SIGKILL loop and by operators, and every CLI command, do not pay 300+ ms to
 * load them. The tracer below lists every package a process imports.
 */

/**
 * Run with NODE_OPTIONS="--import <file>" and CONFIDE_TEST_MODULE_TRACE=<file>: each bare specifier
 * resolved through the ES module loader (Confide's own imports, static or dynamic, and those of ESM
 * packages) is appended to that file, one a line. The file is its own hooks module: registered from
 * the main thread, loaded again in the hooks thread. What a CommonJS package require()s is not
 * seen; the package Confide imports to reach it is.
 */
const TRACER_SOURCE = `
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
if (isMainThread) register(import.meta.url);
export async function resolve(specifier, context, next) {
  const trace = process.env.CONFIDE_TEST_MODULE_TRACE;
  if (trace && /^(?![./]|node:|file:|data:)/.test(specifier)) appendFileSync(trace, specifier + '\\n');
  return next(specifier, context);
}
`;
const DEFERRED = ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@simplewebauthn/server', '@peculiar/x509', 'ioredis', 'nodemailer'];

const root = mkdtempSync(join(tmpdir(), 'confide-modules-'));
const TRACER = join(root, 'module-trace.mjs');
writeFileSync(TRACER, TRACER_SOURCE);
const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'warn' };
let traces = 0;

/** The environment that traces a process's imports, and the packages it imported so far. */
function traced(): { env: Record<string, string>; packages: () => string[] } {
  const file = join(root, `trace-${(traces += 1)}`);
  return {
    env: { NODE_OPTIONS: `--import ${TRACER}`, CONFIDE_TEST_MODULE_TRACE: file },
    packages: () => (existsSync(file) ? [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))] : []),
  };
}

async function stop(server: ServerProcess): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('packages loaded at start-up', () => {
  it('confide serve without S3, Redis, SMTP or a certificate to make loads none of the deferred packages', async () => {
    // The first start creates the deployment and its self-signed certificate (which loads @peculiar/x509).
    await stop(await startServerProcess(env, await freePort()));
    const trace = traced();
    const server = await startServerProcess({ ...env, ...trace.env }, await freePort());
    const loaded = trace.packages();
    await stop(server);
    expect(loaded).toContain('fastify'); // the trace sees the server's imports at all
    expect(loaded.filter((name) => DEFERRED.includes(name))).toEqual([]);
  });

  it('a CLI command loads none of them either', () => {
    const trace = traced();
    const result = runCli(['mail', 'outbox', '--json'], { ...env, ...trace.env });
    expect(result.status, result.stderr).toBe(0);
    expect(trace.packages()).toContain('kysely');
    expect(trace.packages().filter((name) => DEFERRED.includes(name))).toEqual([]);
  });

  it('the AWS SDK is loaded once a command reaches an S3 bucket', async () => {
    const trace = traced();
    // Nothing listens on this port: the SDK is loaded to ask, then the command fails.
    const s3 = { CONFIDE_BACKUP_TARGET: 's3://confide-modules/backups', AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}`, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test-secret', CONFIDE_S3_FORCE_PATH_STYLE: 'true' };
    const result = runCli(['backup', 'list'], { ...env, ...s3, ...trace.env });
    expect(result.status).not.toBe(0);
    expect(trace.packages()).toContain('@aws-sdk/client-s3');
  });
});

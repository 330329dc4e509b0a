/**
 * What every throughput bench needs around its servers: starting one as a process of its own,
 * a certificate for them all, and Confide's bench tenant (signed up, verified, signed in).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSelfSignedCertificate } from '../src/http/certificate.js';
import { httpsJson, verifyEmailThroughOutbox } from '../test/harness/server-process.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts `node …command` with only PATH and `env`, and resolves once its output includes `ready`. */
export function startProcess(command: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${output}`)));
  });
}

/** One self-signed certificate for every server of the run: `root`/cert.pem and `root`/key.pem. */
export async function writeCertificate(root: string): Promise<{ certFile: string; keyFile: string }> {
  const credentials = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']);
  const certFile = join(root, 'cert.pem');
  const keyFile = join(root, 'key.pem');
  writeFileSync(certFile, credentials.cert);
  writeFileSync(keyFile, credentials.key, { mode: 0o600 });
  return { certFile, keyFile };
}

/** Signs up a bench tenant on one Confide, verifies its address through the outbox and signs in. */
export async function signUpAndIn(port: number, env: Record<string, string>, email = 'bench@example.test'): Promise<{ token: string }> {
  const password = `load-test-${randomBytes(8).toString('hex')}`;
  const signup = await httpsJson(port, 'POST', '/v1/signup', { organization: 'Bench', email, password });
  if (signup.status !== 201) throw new Error(`sign-up failed: ${JSON.stringify(signup.body)}`);
  await verifyEmailThroughOutbox(port, env, email);
  return (await httpsJson(port, 'POST', '/v1/sessions', { email, password })).body;
}

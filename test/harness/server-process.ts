import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { HIGH_RATE_LIMITS } from './rate-limit-env.js';
import { runCli } from './run-cli.js';
import { confideCommand } from './confide-command.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** The admin listener's port (CONFIDE_ADMIN_LISTEN): the one `env` named, else a free one on loopback. */
  adminPort: number;
  output: () => string;
}

/**
 * Starts `confide serve` as a real separate process and waits until it listens (both listeners:
 * the public one says so last). Unless `env` names CONFIDE_ADMIN_LISTEN, the admin listener gets a
 * free loopback port, so test files running at once never race for the default 127.0.0.1:9443.
 */
export async function startServerProcess(env: Record<string, string>, port: number): Promise<ServerProcess> {
  const adminListen = env.CONFIDE_ADMIN_LISTEN ?? `127.0.0.1:${await freePort()}`;
  const adminPort = Number(/:(\d+)$/.exec(adminListen)?.[1]);
  const child = spawn(process.execPath, [...confideCommand(), 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...HIGH_RATE_LIMITS, ...env, CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${port}`, CONFIDE_ADMIN_LISTEN: adminListen },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 30_000);
    const check = () => {
      if (output.includes('Confide is listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${output}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, port, adminPort, output: () => output };
}

export async function killHard(server: ServerProcess): Promise<void> {
  // A process a signal ended has no exit code, only its signal: it is gone either way.
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

const agent = new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 16 });

export interface JsonResponse {
  status: number;
  body: any;
}

/** One HTTPS request with a JSON body, over a keep-alive agent that accepts the self-signed certificate. */
export function httpsJson(port: number, method: string, path: string, body?: unknown, token?: string): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * Confirms `email` on a running server process, as a person would: reads the verification e-mail
 * from the encrypted outbox with `confide mail outbox --json` (same environment), then posts its token.
 */
export async function verifyEmailThroughOutbox(port: number, env: Record<string, string>, email: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const listed = runCli(['mail', 'outbox', '--json'], env);
    if (listed.status !== 0) throw new Error(`confide mail outbox failed: ${listed.stderr}`);
    const messages = (JSON.parse(listed.stdout) as { messages: Array<{ to: string; text: string }> }).messages;
    const tokens = messages.filter((m) => m.to.includes(email)).flatMap((m) => m.text.match(/cfv_[A-Za-z0-9_-]{43}/g) ?? []);
    if (tokens.length > 0) {
      const confirmed = await httpsJson(port, 'POST', '/v1/email-verifications/confirm', { token: tokens[tokens.length - 1] });
      if (confirmed.status !== 204) throw new Error(`verification failed: ${JSON.stringify(confirmed.body)}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250)); // the mail worker writes the outbox just after the commit
  }
  throw new Error(`no verification e-mail to ${email} in the outbox`);
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect, createServer as createTcpServer } from 'node:net';
import { createServer as createTlsServer, type SecureVersion, type Server, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSignedCertificate } from '../../src/http/certificate.js';
import { newId } from '../../src/lib/ids.js';
import { certificateAuthority, clientCertificate, type Pem } from '../harness/client-certificates.js';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { handshake } from '../harness/tls-probe.js';

/*
 * The admin listener's edge, over real HTTPS: where it may listen (CONFIDE_ADMIN_LISTEN,
 * CONFIDE_ADMIN_ALLOW_PUBLIC), mutual TLS from the configuration (CONFIDE_ADMIN_CLIENT_CA) in a real
 * `confide serve`, the two listeners' routes kept apart, the TLS profile, and shutdown of both.
 */

const EX_CONFIG = 78;

interface Answer {
  status: number;
  body: any;
}

interface Call {
  method?: string;
  path: string;
  body?: unknown;
  /** A client certificate to present (mutual TLS). */
  client?: Pem;
  agent?: Agent;
  /** Offer exactly this TLS version. */
  version?: SecureVersion;
}

/** One HTTPS request; without an agent, on a connection of its own, so each call is a fresh handshake. */
function call(port: number, { method = 'GET', path, body, client, agent, version }: Call): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        servername: 'localhost',
        rejectUnauthorized: false,
        ...(agent ? { agent } : { agent: false }),
        ...(client ?? {}),
        ...(version ? { minVersion: version, maxVersion: version } : {}),
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function freshEnv(root: string): Record<string, string> {
  return { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'info' };
}

function jsonLines(output: string): Array<Record<string, any>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

describe('where the admin listener may listen: confide serve', () => {
  const roots: string[] = [];
  const servers: ServerProcess[] = [];
  const freshRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-admin-edge-'));
    roots.push(root);
    return root;
  };
  afterAll(async () => {
    for (const server of servers) await killHard(server);
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it.each([
    ['every interface (0.0.0.0)', '0.0.0.0', /^confide: CONFIDE_ADMIN_LISTEN 0\.0\.0\.0 means every interface, public ones included: /],
    ['every interface (::)', '[::]', /^confide: CONFIDE_ADMIN_LISTEN :: means every interface, public ones included: /],
    ['a public address', '8.8.8.8', /^confide: CONFIDE_ADMIN_LISTEN 8\.8\.8\.8 is neither loopback nor private: /],
    ['a host name', 'admin.example.com', /^confide: CONFIDE_ADMIN_LISTEN admin\.example\.com is a host name, which cannot be checked: /],
  ])('refuses %s: exit 78, one line naming CONFIDE_ADMIN_LISTEN and the override, nothing created', { timeout: 60_000 }, async (_what, host, line) => {
    const root = freshRoot();
    const publicPort = await freePort();
    const result = runCli(['serve'], { ...freshEnv(root), CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${publicPort}`, CONFIDE_ADMIN_LISTEN: `${host}:${await freePort()}` });
    expect(result.status, result.stderr).toBe(EX_CONFIG);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
    expect(lines[0]).toContain('CONFIDE_ADMIN_ALLOW_PUBLIC=true');
    expect(result.stdout).toBe('');
    expect(existsSync(join(root, 'data'))).toBe(false); // refused before anything was set up
  });

  it('refuses a CONFIDE_ADMIN_CLIENT_CA that holds no certificate: exit 78, one line naming it', { timeout: 60_000 }, async () => {
    const root = freshRoot();
    writeFileSync(join(root, 'not-a-ca.pem'), 'hello\n');
    for (const [file, why] of [['not-a-ca.pem', 'holds no PEM certificate'], ['missing.pem', 'does not exist']] as const) {
      const result = runCli(['serve'], { ...freshEnv(root), CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${await freePort()}`, CONFIDE_ADMIN_CLIENT_CA: join(root, file) });
      expect(result.status, result.stderr).toBe(EX_CONFIG);
      expect(result.stderr).toMatch(new RegExp(`^confide: CONFIDE_ADMIN_CLIENT_CA ${join(root, file)} ${why}.*\\n$`));
    }
  });

  it('with CONFIDE_ADMIN_ALLOW_PUBLIC=true binds 0.0.0.0, and the admin /healthz answers on 127.0.0.1', { timeout: 90_000 }, async () => {
    const adminPort = await freePort();
    const server = await startServerProcess({ ...freshEnv(freshRoot()), CONFIDE_ADMIN_LISTEN: `0.0.0.0:${adminPort}`, CONFIDE_ADMIN_ALLOW_PUBLIC: 'true' }, await freePort());
    servers.push(server);
    expect(server.adminPort).toBe(adminPort);
    expect(await call(adminPort, { path: '/healthz' })).toEqual({ status: 200, body: { status: 'ok' } });
    // It is the admin listener there: its own document, no public routes.
    expect((await call(adminPort, { path: '/admin/v1/openapi.json' })).body.info.title).toBe('Confide admin API');
    expect((await call(adminPort, { path: '/v1/openapi.json' })).status).toBe(404);
  });

  it('stops with one line naming CONFIDE_ADMIN_LISTEN when its port is taken, before the public listener opens', { timeout: 60_000 }, async () => {
    const holder = createTcpServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as { port: number }).port;
    const publicPort = await freePort();
    try {
      const result = runCli(['serve'], { ...freshEnv(freshRoot()), CONFIDE_LOG_LEVEL: 'warn', CONFIDE_PUBLIC_LISTEN: `127.0.0.1:${publicPort}`, CONFIDE_ADMIN_LISTEN: `127.0.0.1:${taken}` });
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toBe(`confide: cannot listen on 127.0.0.1:${taken} (CONFIDE_ADMIN_LISTEN): the address is already in use\n`);
      expect(result.stdout).not.toContain('Confide is listening');
    } finally {
      holder.close();
    }
  });
});

describe('a confide serve process with CONFIDE_ADMIN_CLIENT_CA (mutual TLS on the admin listener only)', () => {
  let root: string;
  let server: ServerProcess;
  let staff: Pem;
  let stranger: Pem;
  let selfMade: Pem;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-admin-mtls-'));
    const staffCa = await certificateAuthority('Confide staff CA');
    const otherCa = await certificateAuthority('Another CA');
    staff = await clientCertificate(staffCa, 'sam');
    stranger = await clientCertificate(otherCa, 'sam');
    selfMade = await generateSelfSignedCertificate(['sam'], []);
    writeFileSync(join(root, 'staff-ca.pem'), staffCa.pem.cert);
    server = await startServerProcess({ ...freshEnv(root), CONFIDE_ADMIN_CLIENT_CA: join(root, 'staff-ca.pem') }, await freePort());
  }, 90_000);
  afterAll(async () => {
    if (server) await killHard(server);
    rmSync(root, { recursive: true, force: true });
  });

  it('says where each listener listens, the admin one first, and logs both addresses at start', () => {
    const entries = jsonLines(server.output());
    const admin = entries.findIndex((entry) => entry.msg === `Confide admin listener is listening on https://127.0.0.1:${server.adminPort}`);
    const ready = entries.findIndex((entry) => entry.msg === `Confide is listening on https://127.0.0.1:${server.port}`);
    expect(admin).toBeGreaterThanOrEqual(0);
    expect(ready).toBeGreaterThan(admin);
    expect(entries.find((entry) => entry.msg === 'confide started')).toMatchObject({
      publicListen: `127.0.0.1:${server.port}`,
      adminListen: `127.0.0.1:${server.adminPort}`,
    });
  });

  it('refuses a client without a certificate, with one from another CA, or self-signed; serves one the CA signed', async () => {
    await expect(call(server.adminPort, { path: '/healthz' })).rejects.toThrow(/certificate|alert|socket hang up|ECONNRESET/i);
    await expect(call(server.adminPort, { path: '/healthz', client: stranger })).rejects.toThrow(/certificate|alert|unknown ca|socket hang up|ECONNRESET/i);
    await expect(call(server.adminPort, { path: '/healthz', client: selfMade })).rejects.toThrow();
    expect(await call(server.adminPort, { path: '/healthz', client: staff })).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await call(server.adminPort, { path: '/admin/v1/openapi.json', client: staff })).status).toBe(200);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('requires the certificate over %s too', async (version) => {
    // TLS 1.2 fails inside the handshake; in TLS 1.3 the client's side of it completes first, and
    // the server's alert then ends the connection before any request is answered.
    if (version === 'TLSv1.2') expect((await handshake(server.adminPort, { minVersion: version, maxVersion: version })).ok).toBe(false);
    await expect(call(server.adminPort, { path: '/healthz', version })).rejects.toThrow();
    await expect(call(server.adminPort, { path: '/healthz', version, client: stranger })).rejects.toThrow();
    expect((await call(server.adminPort, { path: '/healthz', version, client: staff })).status).toBe(200);
  });

  it('asks the public listener for no client certificate', async () => {
    expect(await call(server.port, { path: '/healthz' })).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await call(server.port, { path: '/v1/openapi.json' })).status).toBe(200);
  });

  // Last: it ends the process.
  it('on SIGTERM closes both listeners and exits 0', { timeout: 60_000 }, async () => {
    expect(await accepts(server.port)).toBe(true);
    expect(await accepts(server.adminPort)).toBe(true);
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    server.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(server.output()).toContain('confide stopping');
    expect(await accepts(server.port)).toBe(false);
    expect(await accepts(server.adminPort)).toBe(false);
  });
});

type OpenApiPaths = Record<string, Record<string, unknown>>;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** Every (method, concrete path) of a document but /healthz, which both listeners serve; ids filled in. */
function operations(paths: OpenApiPaths): Array<{ method: string; path: string }> {
  return Object.entries(paths)
    .filter(([template]) => template !== '/healthz')
    .flatMap(([template, item]) =>
      Object.keys(item)
        .filter((method) => HTTP_METHODS.includes(method))
        .map((method) => ({ method: method.toUpperCase(), path: template.replace(/\{(\w+)\}/g, (_, name: string) => (/version/i.test(name) ? '1' : newId())) })),
    );
}

describe.each(DIALECTS)('the two listeners keep their routes apart (%s)', (dialect) => {
  let t: TestApp;
  let publicPort: number;
  let adminPort: number;
  const agent = new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 4 });
  beforeAll(async () => {
    // With a metrics token, the admin listener's GET /metrics answers 401 without it: the control below holds for it too.
    t = await createTestApp(dialect, { env: { CONFIDE_METRICS_TOKEN: randomBytes(32).toString('hex') } });
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    await t.app.adminServer.listen({ host: '127.0.0.1', port: 0 });
    publicPort = (t.app.publicServer.server.address() as { port: number }).port;
    adminPort = (t.app.adminServer.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    agent.destroy();
    await t?.close();
  });

  it('the public listener answers 404 NOT_FOUND to every operation of the admin OpenAPI document', async () => {
    const document = await call(adminPort, { path: '/admin/v1/openapi.json', agent });
    expect(document.status).toBe(200);
    const sample = operations(document.body.paths as OpenApiPaths);
    expect(sample.length).toBeGreaterThan(0);
    expect(sample.every(({ path }) => path.startsWith('/admin/v1/') || path === '/metrics')).toBe(true);
    expect(sample.some(({ path }) => path === '/metrics')).toBe(true);
    for (const { method, path } of sample) {
      const sent = { method, path, agent, ...(['POST', 'PUT', 'PATCH'].includes(method) ? { body: {} } : {}) };
      const answer = await call(publicPort, sent);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body, `${method} ${path}`).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String), requestId: expect.any(String) } });
      // Control: the admin listener has the route (it answers 401 or 400 there, not 404), so the
      // public 404 is the route's absence, not an id that happens to be unknown.
      expect((await call(adminPort, sent)).status, `${method} ${path} on the admin listener`).not.toBe(404);
    }
    expect((await call(publicPort, { path: '/admin/v1/openapi.json', agent })).status).toBe(404);
  });

  it('the admin listener serves /healthz and its OpenAPI document, and answers 404 to every public /v1/ operation', async () => {
    expect(await call(adminPort, { path: '/healthz', agent })).toEqual({ status: 200, body: { status: 'ok' } });
    const admin = await call(adminPort, { path: '/admin/v1/openapi.json', agent });
    expect(admin.body.info.title).toBe('Confide admin API');
    const document = await call(publicPort, { path: '/v1/openapi.json', agent });
    const sample = operations(document.body.paths as OpenApiPaths);
    expect(sample.length).toBeGreaterThan(20);
    for (const { method, path } of sample) {
      const sent = { method, path, agent, ...(['POST', 'PUT', 'PATCH'].includes(method) ? { body: {} } : {}) };
      const answer = await call(adminPort, sent);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body.error.code, `${method} ${path}`).toBe('NOT_FOUND');
      // Control, as above: the public listener has the route.
      expect((await call(publicPort, sent)).status, `${method} ${path} on the public listener`).not.toBe(404);
    }
    expect((await call(adminPort, { path: '/v1/openapi.json', agent })).status).toBe(404);
  });
});

// Old offers must be refused. `@SECLEVEL=0` lets this client offer them at all.
const WEAK = 'DEFAULT@SECLEVEL=0';

describe('the admin listener has the public one’s TLS profile (Mozilla intermediate: TLS 1.2 and 1.3 only)', () => {
  let t: TestApp;
  let port: number;
  let control: { server: Server; port: number };
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    await t.app.adminServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.adminServer.server.address() as { port: number }).port;
    // Positive control: a permissive server proves this client can really speak TLS 1.1 and 1.0.
    const credentials = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']);
    const server = createTlsServer({ ...credentials, minVersion: 'TLSv1', ciphers: WEAK }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    control = { server, port: (server.address() as { port: number }).port };
  });
  afterAll(async () => {
    control?.server.close();
    await t?.close();
  });

  it.each(['TLSv1', 'TLSv1.1'] as const)('refuses %s (the control server accepts it)', async (version) => {
    const offer = { minVersion: version, maxVersion: version, ciphers: WEAK };
    expect(await handshake(control.port, offer)).toMatchObject({ ok: true, protocol: version });
    expect((await handshake(port, offer)).ok).toBe(false);
  });

  it('refuses a TLS 1.2 client offering only CBC suites', async () => {
    const ciphers = 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA@SECLEVEL=0';
    expect((await handshake(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers })).ok).toBe(false);
  });

  it('accepts TLS 1.2 with an ECDHE AEAD suite and TLS 1.3', async () => {
    expect(await handshake(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).toMatchObject({
      ok: true,
      protocol: 'TLSv1.2',
      cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    });
    expect(await handshake(port, { minVersion: 'TLSv1.3' })).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });

  it('presents the same certificate as the public listener', async () => {
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    const publicPort = (t.app.publicServer.server.address() as { port: number }).port;
    const fingerprint = (at: number) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: at, path: '/healthz', agent: false, rejectUnauthorized: false }, (res) => {
          resolve((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
          res.resume();
        });
        req.on('error', reject);
        req.end();
      });
    expect(await fingerprint(port)).toBe(await fingerprint(publicPort));
  });
});

describe('closing the app', () => {
  it('closes both listeners (what SIGTERM and SIGINT call), in this very process', async () => {
    const t = await createTestApp('sqlite');
    await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
    await t.app.adminServer.listen({ host: '127.0.0.1', port: 0 });
    const ports = [t.app.publicServer, t.app.adminServer].map((server) => (server.server.address() as { port: number }).port);
    for (const port of ports) expect(await accepts(port), String(port)).toBe(true);
    await t.close();
    for (const port of ports) expect(await accepts(port), String(port)).toBe(false);
  });
});

import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { buildListener, type Listener } from '../../src/http/build-listener.js';
import type { Authenticator } from '../../src/http/authenticate.js';
import { generateSelfSignedCertificate } from '../../src/http/certificate.js';

/**
 * The listener builder on its own, as the admin listener will use it: a second listener gets the
 * whole shared plumbing (error edge, headers, JSON-only bodies, /healthz) with its own OpenAPI
 * path, and with `clientCa` it is mutual TLS. The public listener's behaviour through the same
 * builder is covered by the API and edge suites.
 */
type KeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

interface Pem { cert: string; key: string }

async function pem(keys: KeyPair, certificate: x509.X509Certificate): Promise<Pem> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { cert: certificate.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n` };
}

async function certificateAuthority(name: string): Promise<{ pem: Pem; keys: KeyPair; certificate: x509.X509Certificate }> {
  x509.cryptoProvider.set(webcrypto as never);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { pem: await pem(keys, certificate), keys, certificate };
}

async function clientCertificate(ca: Awaited<ReturnType<typeof certificateAuthority>>): Promise<Pem> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=staff-device',
    issuer: ca.certificate.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + DAY_MS),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return pem(keys, certificate);
}

interface Answer { status: number; headers: Record<string, unknown>; body: string }

function get(port: number, path: string, client?: Pem, method = 'GET', body?: { type: string; text: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, rejectUnauthorized: false, ...(client ?? {}), ...(body ? { headers: { 'content-type': body.type } } : {}) },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body?.text);
  });
}

const noOne: Authenticator = async () => undefined;

async function adminLikeListener(dataDir: string, clientCa?: string): Promise<{ listener: Listener; port: number; given: unknown[] }> {
  const given: unknown[] = [];
  const listener = await buildListener({
    name: 'admin',
    config: loadConfig({ CONFIDE_DATA_DIR: join(dataDir, 'data') }, dataDir),
    logger: pino({ level: 'silent' }),
    tls: await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']),
    ...(clientCa ? { clientCa } : {}),
    authenticate: noOne,
    trustedProxies: [],
    openapi: { path: '/admin/v1/openapi.json', title: 'Confide admin API', version: '1', description: 'Staff only.', securitySchemes: {} },
    routes: (router, authenticate) => {
      given.push(authenticate);
      router.post('/admin/v1/echo', async (req) => req.body as object);
    },
  });
  await listener.server.listen({ host: '127.0.0.1', port: 0 });
  return { listener, port: (listener.server.server.address() as { port: number }).port, given };
}

describe('buildListener: a second listener with its own options', () => {
  let root: string;
  let plain: Awaited<ReturnType<typeof adminLikeListener>>;
  let mutual: Awaited<ReturnType<typeof adminLikeListener>>;
  let staff: Pem;
  let stranger: Pem;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-listener-'));
    const ca = await certificateAuthority('Confide staff CA');
    staff = await clientCertificate(ca);
    stranger = await clientCertificate(await certificateAuthority('Someone else'));
    plain = await adminLikeListener(join(root, 'plain'));
    mutual = await adminLikeListener(join(root, 'mutual'), ca.pem.cert);
  });
  afterAll(async () => {
    await plain?.listener.server.close();
    await mutual?.listener.server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('names itself, hands its authenticator to its routes, and serves /healthz and its own OpenAPI path', async () => {
    expect(plain.listener.name).toBe('admin');
    expect(plain.given).toEqual([noOne]);
    expect(JSON.parse((await get(plain.port, '/healthz')).body)).toEqual({ status: 'ok' });
    const doc = JSON.parse((await get(plain.port, '/admin/v1/openapi.json')).body) as { info: { title: string } };
    expect(doc.info.title).toBe('Confide admin API');
    expect((await get(plain.port, '/v1/openapi.json')).status).toBe(404);
  });

  it('answers through the shared error edge: contract shape, request id, no-store and security headers', async () => {
    const missing = await get(plain.port, '/admin/v1/nothing');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'NOT_FOUND', requestId: missing.headers['x-request-id'] } });
    expect(missing.headers['cache-control']).toBe('no-store');
    expect(missing.headers['strict-transport-security']).toBeDefined();
    const notJson = await get(plain.port, '/admin/v1/echo', undefined, 'POST', { type: 'text/plain', text: 'hello' });
    expect(notJson.status).toBe(415);
    expect(JSON.parse(notJson.body)).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('with clientCa: refuses a client without a certificate or with another CA\'s, serves one the CA signed (mutual TLS)', async () => {
    await expect(get(mutual.port, '/healthz')).rejects.toThrow();
    await expect(get(mutual.port, '/healthz', stranger)).rejects.toThrow();
    const answer = await get(mutual.port, '/healthz', staff);
    expect(answer.status).toBe(200);
    // Positive control: the listener without clientCa serves a client without a certificate.
    expect((await get(plain.port, '/healthz')).status).toBe(200);
  });
});

import * as tlsModule from 'node:tls';
import { createServer, type Server } from 'node:tls';
import { request } from 'node:https';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { handshake } from '../harness/tls-probe.js';
import { generateSelfSignedCertificate } from '../../src/http/certificate.js';

// Old or weak offers must be refused. `@SECLEVEL=0` lets this client offer them at all.
const WEAK = 'DEFAULT@SECLEVEL=0';

async function listen(t: TestApp): Promise<number> {
  await t.app.publicServer.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.publicServer.server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return address.port;
}

/**
 * Positive control: a deliberately permissive server, to prove this client really can speak
 * the old protocols and suites. Without it, a refusal could be the client's doing, not Confide's.
 */
async function permissiveServer(): Promise<{ server: Server; port: number }> {
  const credentials = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1']);
  const server = createServer({ ...credentials, minVersion: 'TLSv1', ciphers: WEAK }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('TLS on the public listener, profile intermediate (Mozilla 5.7 without DHE)', () => {
  let t: TestApp;
  let port: number;
  let control: { server: Server; port: number };
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    port = await listen(t);
    control = await permissiveServer();
  });
  afterAll(async () => {
    control.server.close();
    await t.close();
  });

  it('refuses TLS 1.1 (and the client could speak it: the control server accepts it)', async () => {
    const offer = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: WEAK } as const;
    expect(await handshake(control.port, offer)).toMatchObject({ ok: true, protocol: 'TLSv1.1' });
    expect((await handshake(port, offer)).ok).toBe(false);
  });

  it('refuses TLS 1.0', async () => {
    const offer = { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: WEAK } as const;
    expect(await handshake(control.port, offer)).toMatchObject({ ok: true, protocol: 'TLSv1' });
    expect((await handshake(port, offer)).ok).toBe(false);
  });

  it.each([
    ['CBC suites only', 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA'],
    ['non-forward-secret suites only', 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA'],
    ['DHE suites only', 'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384'],
  ])('refuses a TLS 1.2 client offering %s', async (_name, ciphers) => {
    const offer = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: `${ciphers}@SECLEVEL=0` } as const;
    if (_name === 'CBC suites only') expect((await handshake(control.port, offer)).ok).toBe(true);
    expect((await handshake(port, offer)).ok).toBe(false);
  });

  it.each([
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
    ['ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
    ['ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  ])('accepts TLS 1.2 with %s', async (suite, standardName) => {
    expect(await handshake(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: suite })).toMatchObject({ ok: true, protocol: 'TLSv1.2', cipher: standardName });
  });

  it.each(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'])('accepts TLS 1.3 with %s', async (suite) => {
    // Node takes TLS 1.3 suites in `ciphers` too.
    expect(await handshake(port, { minVersion: 'TLSv1.3', ciphers: suite })).toMatchObject({ ok: true, protocol: 'TLSv1.3', cipher: suite });
  });

  // In TLS 1.3 the offered groups govern only the key exchange (in TLS 1.2 they also bound the
  // certificate's curve), so the groups are probed there.
  it.each([
    ['X25519', 'X25519'],
    ['P-256', 'prime256v1'],
    ['P-384', 'secp384r1'],
  ])('accepts %s key exchange', async (curve, group) => {
    expect(await handshake(port, { minVersion: 'TLSv1.3', ecdhCurve: curve })).toMatchObject({ ok: true, group });
  });

  it('refuses a client offering only P-521 key exchange', async () => {
    expect((await handshake(control.port, { minVersion: 'TLSv1.3', ecdhCurve: 'P-521' })).ok).toBe(true);
    expect((await handshake(port, { minVersion: 'TLSv1.3', ecdhCurve: 'P-521' })).ok).toBe(false);
  });

  it('prefers X25519 for a TLS 1.2 client that offers it beside P-256', async () => {
    expect(await handshake(port, { maxVersion: 'TLSv1.2', ecdhCurve: 'X25519:P-256' })).toMatchObject({ ok: true, group: 'X25519' });
  });

  it('presents an ECDSA P-256 certificate signed with SHA-256, valid for 90 days at most', async () => {
    const peer = await new Promise<string>((resolve, reject) => {
      const socket = tlsModule.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
        resolve(socket.getPeerX509Certificate()!.toString());
        socket.end();
      });
      socket.on('error', reject);
    });
    const cert = new x509.X509Certificate(peer);
    expect(cert.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect((cert.publicKey.algorithm as { namedCurve?: string }).namedCurve).toBe('P-256');
    const lifetimeDays = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000;
    expect(lifetimeDays).toBeLessThanOrEqual(91);
  });

  it('sends HSTS for two years, with includeSubDomains, over real HTTPS', async () => {
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (response) => {
        response.resume();
        resolve(response.headers);
      })
        .on('error', reject)
        .end();
    });
    expect(headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('does not speak plain HTTP', async () => {
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString('latin1')));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
      setTimeout(() => socket.destroy(), 2000);
    });
    expect(reply).not.toContain('"status":"ok"');
  });
});

describe('TLS on the public listener, profile modern', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { env: { CONFIDE_TLS_PROFILE: 'modern' } });
    port = await listen(t);
  });
  afterAll(() => t.close());

  it('speaks TLS 1.3 only', async () => {
    expect((await handshake(port, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).ok).toBe(false);
    expect(await handshake(port, { minVersion: 'TLSv1.3' })).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });
});

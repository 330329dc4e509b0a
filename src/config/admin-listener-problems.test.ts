import { webcrypto } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

/** A CA certificate in PEM (config may not use src/http's certificate code: it depends only on lib). */
async function caCertificate(): Promise<string> {
  x509.cryptoProvider.set(webcrypto as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Staff CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return certificate.toString('pem');
}

/** The problem lines loadConfig reports for `env`, or [] when it accepts it. */
function problemsOf(env: Record<string, string>, cwd = '/srv'): string[] {
  try {
    loadConfig(env, cwd);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('loadConfig: where the admin listener may listen (CONFIDE_ADMIN_LISTEN, CONFIDE_ADMIN_ALLOW_PUBLIC)', () => {
  it.each(['127.0.0.1:9443', '127.0.0.2:9443', 'localhost:9443', '[::1]:9443', '10.0.0.5:9443', '172.16.0.1:9443', '172.31.200.1:9443', '192.168.1.1:9443', '[fc00::1]:9443', '[fd00:abcd::2]:9443'])(
    'accepts the loopback or private address %s',
    (address) => {
      expect(problemsOf({ CONFIDE_ADMIN_LISTEN: address })).toEqual([]);
      expect(loadConfig({ CONFIDE_ADMIN_LISTEN: address }, '/srv').admin.allowPublic).toBe(false);
    },
  );

  it.each([
    ['0.0.0.0:9443', /^CONFIDE_ADMIN_LISTEN 0\.0\.0\.0 means every interface/],
    ['[::]:9443', /^CONFIDE_ADMIN_LISTEN :: means every interface/],
    ['8.8.8.8:9443', /^CONFIDE_ADMIN_LISTEN 8\.8\.8\.8 is neither loopback nor private/],
    ['172.32.0.1:9443', /^CONFIDE_ADMIN_LISTEN 172\.32\.0\.1 is neither loopback nor private/],
    ['[2001:4860:4860::8888]:9443', /^CONFIDE_ADMIN_LISTEN 2001:4860:4860::8888 is neither loopback nor private/],
    ['admin.example.com:9443', /^CONFIDE_ADMIN_LISTEN admin\.example\.com is a host name, which cannot be checked/],
  ])('refuses %s with one line naming the variable and the override', (address, line) => {
    const problems = problemsOf({ CONFIDE_ADMIN_LISTEN: address });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(line);
    expect(problems[0]).toContain('CONFIDE_ADMIN_ALLOW_PUBLIC=true');
    expect(problems[0]).not.toContain('\n');
  });

  it('binds any address with CONFIDE_ADMIN_ALLOW_PUBLIC=true, and reads only true or false', () => {
    for (const address of ['0.0.0.0:9443', '8.8.8.8:9443', 'admin.example.com:9443']) {
      const config = loadConfig({ CONFIDE_ADMIN_LISTEN: address, CONFIDE_ADMIN_ALLOW_PUBLIC: 'true' }, '/srv');
      expect(config.admin.allowPublic).toBe(true);
    }
    expect(problemsOf({ CONFIDE_ADMIN_LISTEN: '0.0.0.0:9443', CONFIDE_ADMIN_ALLOW_PUBLIC: 'false' })).toHaveLength(1);
    const typo = problemsOf({ CONFIDE_ADMIN_ALLOW_PUBLIC: 'yes' });
    expect(typo).toEqual(['CONFIDE_ADMIN_ALLOW_PUBLIC must be true or false']);
  });

  it('leaves the public listener free to bind every interface', () => {
    expect(problemsOf({ CONFIDE_PUBLIC_LISTEN: '0.0.0.0:443' })).toEqual([]);
  });
});

describe('loadConfig: the admin client CA file (CONFIDE_ADMIN_CLIENT_CA)', () => {
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-client-ca-'));
    const cert = await caCertificate();
    writeFileSync(join(root, 'ca.pem'), cert);
    writeFileSync(join(root, 'two.pem'), `# the staff CAs\n${cert}\n${cert}`);
    writeFileSync(join(root, 'empty.pem'), '');
    writeFileSync(join(root, 'key-only.pem'), '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n');
    writeFileSync(join(root, 'damaged.pem'), `${cert}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
    writeFileSync(join(root, 'unreadable.pem'), cert);
    chmodSync(join(root, 'unreadable.pem'), 0o000);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('accepts a PEM file of one or more certificates, resolved from the working directory', () => {
    expect(loadConfig({ CONFIDE_ADMIN_CLIENT_CA: 'ca.pem' }, root).admin.clientCaFile).toBe(join(root, 'ca.pem'));
    expect(problemsOf({ CONFIDE_ADMIN_CLIENT_CA: join(root, 'two.pem') })).toEqual([]);
    expect(loadConfig({}, root).admin.clientCaFile).toBeNull();
  });

  it.each([
    ['missing.pem', /does not exist/],
    ['.', /is a directory/],
    ['empty.pem', /holds no PEM certificate/],
    ['key-only.pem', /holds no PEM certificate/],
    ['damaged.pem', /certificate 2 of 2 cannot be parsed/],
  ])('refuses %s with one line naming the variable', (file, why) => {
    const problems = problemsOf({ CONFIDE_ADMIN_CLIENT_CA: file }, root);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CONFIDE_ADMIN_CLIENT_CA /);
    expect(problems[0]).toMatch(why);
  });

  // Root reads a file whatever its mode, so as root (CI runs as root) there is no unreadable file to
  // make and this case cannot be shown; it runs for any other user. The missing, empty, key-only,
  // damaged and directory cases above run everywhere and take the same refusal path.
  it.skipIf(process.getuid?.() === 0)('refuses a file it cannot read', () => {
    expect(problemsOf({ CONFIDE_ADMIN_CLIENT_CA: 'unreadable.pem' }, root)).toEqual([`CONFIDE_ADMIN_CLIENT_CA ${join(root, 'unreadable.pem')} cannot be read (permission denied): it must be a PEM file holding the CA certificate(s) client certificates must chain to`]);
  });
});

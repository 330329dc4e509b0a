import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSignedCertificate } from '../../src/http/certificate.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { runCli } from '../harness/run-cli.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { countOwned } from '../harness/key-fixture.js';

/** `confide keys status [--json]`: the operator's whole crypto inventory, read beside a running deployment. */
describe.each(DIALECTS)('confide keys status, the crypto inventory (%s)', (dialect) => {
  let t: TestApp;
  let tenant: TestTenant;
  let env: Record<string, string>;
  let certificate: X509Certificate;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    tenant = await buildTenant(t);
    await buildRecord(t, tenant, 'patients', { name: 'counted' });
    // A certificate of the operator's, generated for this test (a key is never kept in the repository).
    const generated = await generateSelfSignedCertificate(['inventory.example.test'], []);
    const root = dirname(t.dataDir);
    writeFileSync(join(root, 'cert.pem'), generated.cert, { mode: 0o600 });
    writeFileSync(join(root, 'key.pem'), generated.key, { mode: 0o600 });
    certificate = new X509Certificate(generated.cert);
    env = { ...t.env, CONFIDE_TLS_CERT_FILE: join(root, 'cert.pem'), CONFIDE_TLS_KEY_FILE: join(root, 'key.pem'), CONFIDE_TLS_PROFILE: 'modern' };
  });
  afterAll(() => t.close());

  it('prints the master key provider and fingerprint, the TLS profile and certificate, and each owner’s values', async () => {
    const status = runCli(['keys', 'status'], env);
    expect(status.status, status.stderr).toBe(0);
    const { masterKey } = t.app.services;
    expect(status.stdout).toContain(`master key: provider env (${masterKey.description}), fingerprint ${masterKey.id}\n`);
    expect(status.stdout).toMatch(/^blind-index key: v1 HMAC-SHA256, created \d{4}-\d\d-\d\d \(0 days\); cannot be rotated yet/m);
    expect(status.stdout).toMatch(/^access-log signing keys \(Ed25519\): \S+ v1 created \d{4}-\d\d-\d\d current$/m);
    expect(status.stdout).toContain('TLS profile: modern, TLSv1.3 to TLSv1.3, ciphers TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256');
    const expiry = new Date(certificate.validTo).toISOString();
    expect(status.stdout).toContain(`TLS certificate: ECDSA P-256, subject CN=inventory.example.test, O=Confide self-signed, SHA-256 ${certificate.fingerprint256}, expires ${expiry}`);
    const values = await countOwned(t.app.services.db, tenant.tenantId);
    expect(status.stdout).toMatch(new RegExp(`^${tenant.tenantId}  v1 active A256GCM \\d{4}-\\d\\d-\\d\\d ${values} values.*  age 0 days$`, 'm'));
    expect(status.stdout).toMatch(/^no re-encryption running$/m);
  });

  it('--json prints the same inventory as one object', async () => {
    const status = runCli(['keys', 'status', '--json'], env);
    expect(status.status, status.stderr).toBe(0);
    const inventory = JSON.parse(status.stdout);
    expect(inventory.masterKey).toEqual({ provider: 'env', description: t.app.services.masterKey.description, fingerprint: t.app.services.masterKey.id });
    expect(inventory.tls).toMatchObject({ profile: 'modern', minVersion: 'TLSv1.3', certificate: { algorithm: 'ECDSA P-256', fingerprint: certificate.fingerprint256, notAfter: new Date(certificate.validTo).toISOString(), source: 'configured' } });
    expect(inventory.blindIndexKey).toMatchObject({ version: 1, rotatable: false });
    expect(inventory.signingKeys).toEqual([expect.objectContaining({ version: 1, algorithm: 'Ed25519', current: true, retiredAt: null })]);
    expect(inventory.tenantKeyStore).toBeNull(); // an environment master key has no directory beside it
    expect(inventory.dataKeys).toEqual({ primaryCipher: 'aes-256-gcm', primaryAlgorithm: 'A256GCM', maxAgeDays: 365 });
    const owner = inventory.owners.find((o: { owner: string }) => o.owner === tenant.tenantId);
    expect(owner).toMatchObject({ ageDays: 0, due: false, dueReasons: [] });
    expect(owner.versions[0]).toMatchObject({ version: 1, state: 'active', values: await countOwned(t.app.services.db, tenant.tenantId) });
    expect(inventory.owners[0].owner).toBe('system');
    expect(inventory.owners[0].versions[0].values).toBeGreaterThan(0); // the tenant owner's e-mail address, at least
  });
});

import { X509Certificate, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { writePrivateFile } from '../lib/private-path.js';

export interface TlsCredentials {
  cert: string;
  key: string;
  /** True when Confide generated the certificate itself (development and first runs). */
  selfSigned: boolean;
}

const LIFETIME_DAYS = 90; // Mozilla's recommendation for certificate lifetime.
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

/**
 * The configured certificate, or a self-signed ECDSA P-256 / SHA-256 one kept under the data
 * directory and renewed when it nears expiry.
 */
export async function loadTlsCredentials(config: Readonly<Config>): Promise<TlsCredentials> {
  if (config.tls.certFile && config.tls.keyFile) {
    return { cert: readFileSync(config.tls.certFile, 'utf8'), key: readFileSync(config.tls.keyFile, 'utf8'), selfSigned: false };
  }
  const dir = join(config.dataDir, 'tls');
  const certFile = selfSignedCertificateFile(config.dataDir);
  const keyFile = join(dir, 'self-signed-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    if (new Date(new X509Certificate(cert).validTo).getTime() - Date.now() > RENEW_BEFORE_DAYS * DAY_MS) {
      return { cert, key: readFileSync(keyFile, 'utf8'), selfSigned: true };
    }
  }
  const generated = await generateSelfSignedCertificate(['localhost'], ['127.0.0.1', '::1']);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Renewal overwrites the files, so their mode is set on every write, not only at creation.
  // The certificate is public, but everything under the data directory is 0600.
  writePrivateFile(keyFile, generated.key);
  writePrivateFile(certFile, generated.cert);
  return { ...generated, selfSigned: true };
}

/** Where the generated certificate is kept (and renewed) under the data directory; the crypto inventory reads it there. */
export function selfSignedCertificateFile(dataDir: string): string {
  return join(dataDir, 'tls', 'self-signed-cert.pem');
}

/** When a PEM certificate stops being valid: the monitor alerts CERTIFICATE_WARNING_DAYS before. */
export function certificateExpiresAt(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/** The SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it: the monitor names a certificate by it. */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

export async function generateSelfSignedCertificate(dnsNames: string[], ipAddresses: string[]): Promise<{ cert: string; key: string }> {
  // Loaded here, not at the top: a certificate is made once per 60 days, and the library costs
  // about 100 ms at every start (reading one is node:crypto's X509Certificate).
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']));
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${dnsNames[0] ?? 'confide'}, O=Confide self-signed`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + LIFETIME_DAYS * DAY_MS),
    signingAlgorithm: algorithm,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { cert: certificate.toString('pem'), key };
}

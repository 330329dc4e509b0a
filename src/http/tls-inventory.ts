import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { selfSignedCertificateFile } from './certificate.js';
import { tlsOptionsFor } from './tls-profile.js';

const DAY_MS = 86_400_000;

/** The TLS set-up as the crypto inventory shows it: the profile's protocol and suites, and the certificate (public parts only). */
export interface TlsInventory {
  profile: string;
  minVersion: string;
  maxVersion: string;
  /** The cipher suites in OpenSSL's names, as the profile configures them (TLS 1.3's first). */
  ciphers: string[];
  curves: string[];
  certificate: CertificateInventory | null;
  /** Why there is no certificate to show (none generated yet), when certificate is null. */
  note?: string;
}

export interface CertificateInventory {
  file: string;
  source: 'configured' | 'self-signed';
  /** `ECDSA P-256`, `RSA 2048`, `Ed25519`. */
  algorithm: string;
  subject: string;
  issuer: string;
  /** SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
}

/** OpenSSL's curve names as people (and NIST) say them. */
const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function keyAlgorithm(certificate: X509Certificate): string {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `RSA ${details.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${CURVES[details.namedCurve ?? ''] ?? details.namedCurve ?? '?'}`;
  return key.asymmetricKeyType === 'ed25519' ? 'Ed25519' : String(key.asymmetricKeyType);
}

/** The configured certificate file, or the generated one under the data directory (never generated here). */
function certificateOf(config: Readonly<Config>, now: Date): CertificateInventory | null {
  const configured = config.tls.certFile;
  const file = configured ?? selfSignedCertificateFile(config.dataDir);
  if (!existsSync(file)) return null;
  const certificate = new X509Certificate(readFileSync(file));
  const notAfter = new Date(certificate.validTo);
  return {
    file,
    source: configured ? 'configured' : 'self-signed',
    algorithm: keyAlgorithm(certificate),
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    fingerprint: certificate.fingerprint256,
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
  };
}

/** What both listeners speak (config.tls.profile, src/http/tls-profile.ts) and the certificate they present. */
export function tlsInventory(config: Readonly<Config>, now: Date): TlsInventory {
  const options = tlsOptionsFor(config.tls.profile, { cert: '', key: '' });
  const certificate = certificateOf(config, now);
  return {
    profile: config.tls.profile,
    minVersion: String(options.minVersion),
    maxVersion: String(options.maxVersion),
    ciphers: String(options.ciphers).split(':'),
    curves: String(options.ecdhCurve).split(':'),
    certificate,
    ...(certificate ? {} : { note: 'no certificate yet: confide serve generates a self-signed one at its first start (or set CONFIDE_TLS_CERT_FILE)' }),
  };
}

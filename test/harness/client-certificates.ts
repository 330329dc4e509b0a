import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Certificate authorities and client certificates made at test time, for mutual TLS on the admin
 * listener (CONFIDE_ADMIN_CLIENT_CA). ECDSA P-256 / SHA-256, like Confide's own certificate
 * (src/http/certificate.ts), valid from a minute ago for a day.
 */
export interface Pem {
  cert: string;
  key: string;
}

export interface CertificateAuthority {
  pem: Pem;
  keys: webcrypto.CryptoKeyPair;
  certificate: x509.X509Certificate;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
let serial = 1;

async function toPem(keys: webcrypto.CryptoKeyPair, certificate: x509.X509Certificate): Promise<Pem> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { cert: certificate.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n` };
}

function validity(): { serialNumber: string; notBefore: Date; notAfter: Date } {
  serial += 1;
  return { serialNumber: serial.toString(16).padStart(2, '0'), notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY_MS) };
}

export async function certificateAuthority(name: string): Promise<CertificateAuthority> {
  x509.cryptoProvider.set(webcrypto as never);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    ...validity(),
    name: `CN=${name}`,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { pem: await toPem(keys, certificate), keys, certificate };
}

/** A client certificate (extended key usage clientAuth) for `subject`, signed by `ca`. */
export async function clientCertificate(ca: CertificateAuthority, subject = 'staff-device'): Promise<Pem> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create({
    ...validity(),
    subject: `CN=${subject}`,
    issuer: ca.certificate.subject,
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return toPem(keys, certificate);
}

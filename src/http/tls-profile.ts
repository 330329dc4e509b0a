import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { TlsProfile } from '../config/config.js';

/** Mozilla Server Side TLS 5.7 "intermediate", without the DHE suites (as in its 6.0 draft). */
export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
export const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
export const TLS_CURVES = 'X25519:P-256:P-384';

/**
 * TLS options for a listener: `intermediate` speaks TLS 1.2 and 1.3, `modern` TLS 1.3 only.
 * Every suite is AEAD with forward secrecy; the client picks the order (all are strong).
 */
export function tlsOptionsFor(profile: TlsProfile, credentials: { cert: string; key: string }): TlsOptions & SecureContextOptions {
  return {
    cert: credentials.cert,
    key: credentials.key,
    minVersion: profile === 'modern' ? 'TLSv1.3' : 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...(profile === 'modern' ? [] : TLS12_SUITES)].join(':'),
    ecdhCurve: TLS_CURVES,
    honorCipherOrder: false,
  };
}

/**
 * The self-describing ciphertext format stored in every `_enc` column:
 *
 *     c1.<algorithm>.<keyVersion>.<base64url(nonce ‖ ciphertext ‖ tag)>
 *
 * with the algorithm `A256GCM` (AES-256-GCM) or `C20P1305` (ChaCha20-Poly1305): src/keys/algorithms.ts.
 *
 * `c1` is the format version, then the algorithm and the version of the owner's data key that
 * sealed it, so keys can rotate and algorithms change while old values stay readable.
 */
export const ENVELOPE_FORMAT = 'c1';
export const ALGORITHM_AES_256_GCM = 'A256GCM';

export interface Envelope {
  algorithm: string;
  keyVersion: number;
  sealed: Buffer;
}

export function formatEnvelope(envelope: Envelope): string {
  return [ENVELOPE_FORMAT, envelope.algorithm, envelope.keyVersion, envelope.sealed.toString('base64url')].join('.');
}

/** `c1.<algorithm>.<keyVersion>.`: what every value sealed with this algorithm and key version starts with. */
export function envelopeHeader(algorithm: string, keyVersion: number): string {
  return `${ENVELOPE_FORMAT}.${algorithm}.${keyVersion}.`;
}

export function parseEnvelope(text: string): Envelope {
  const parts = text.split('.');
  if (parts.length !== 4 || parts[0] !== ENVELOPE_FORMAT || !/^\d+$/.test(parts[2]!)) {
    throw new Error('not a Confide ciphertext');
  }
  return { algorithm: parts[1]!, keyVersion: Number(parts[2]), sealed: Buffer.from(parts[3]!, 'base64url') };
}

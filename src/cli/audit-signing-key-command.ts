import { withServices } from './with-services.js';
import { hostOperator } from './host-operator.js';
import { publicKeyPem } from '../lib/ed25519.js';
import type { SigningPublicKey } from '../keys/signing-keys.js';

const presented = (key: SigningPublicKey) => ({
  keyId: key.keyId,
  version: key.version,
  publicKeyPem: publicKeyPem(key.publicKey),
  createdAt: key.createdAt,
  retiredAt: key.retiredAt,
});

const describe = (key: SigningPublicKey) =>
  `key ${key.keyId} (version ${key.version}), created ${key.createdAt}, ${key.retiredAt ? `retired ${key.retiredAt}` : 'signs now'}\n${publicKeyPem(key.publicKey)}`;

/** Prints every checkpoint signing key, oldest first: what a tenant needs to verify an export offline. */
export async function auditPublicKeysCommand(options: { json?: boolean }): Promise<number> {
  return withServices(async (services) => {
    const keys = await services.signingKeys.publicKeys();
    process.stdout.write(options.json ? `${JSON.stringify({ keys: keys.map(presented) })}\n` : keys.map(describe).join(''));
    return 0;
  });
}

/** Makes a new signing key; the serving nodes sign with it from their next checkpoint on. */
export async function auditRotateSigningKeyCommand(options: { json?: boolean }): Promise<number> {
  return withServices(async (services) => {
    const before = (await services.signingKeys.publicKeys()).find((candidate) => candidate.retiredAt === null);
    const key = await services.signingKeys.rotate();
    services.securityEvents.record({
      type: 'audit.signingKey.rotated',
      outcome: 'success',
      actor: { type: 'system', id: `host:${hostOperator().name}` },
      details: { keyId: key.keyId, version: key.version, retiredKeyId: before?.keyId ?? null },
    });
    process.stdout.write(options.json ? `${JSON.stringify(presented(key))}\n` : `new signing ${describe(key)}`);
    return 0;
  });
}

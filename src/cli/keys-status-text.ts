import type { KeyHierarchyInventory } from '../keys/crypto-inventory.js';
import type { TlsInventory } from '../http/tls-inventory.js';
import type { OwnerKeys } from '../key-rotation/key-status.js';
import type { JobProgress } from '../key-rotation/rotation-jobs.js';

/** Everything `confide keys status` shows; `--json` prints it as is (docs/keys.md, "Inventory"). */
export interface CryptoInventory extends KeyHierarchyInventory {
  tls: TlsInventory;
  dataKeys: { primaryCipher: string; primaryAlgorithm: string; maxAgeDays: number | null };
  owners: OwnerKeys[];
  running: JobProgress[];
}

const day = (iso: string) => iso.slice(0, 10);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function hierarchyLines(inventory: CryptoInventory): string[] {
  const { masterKey, blindIndexKey, signingKeys, tenantKeyStore } = inventory;
  const lines = [`master key: provider ${masterKey.provider} (${masterKey.description}), fingerprint ${masterKey.fingerprint}`];
  lines.push(
    blindIndexKey
      ? `blind-index key: v${blindIndexKey.version} ${blindIndexKey.algorithm}, created ${day(blindIndexKey.createdAt)} (${blindIndexKey.ageDays} days); ${blindIndexKey.note}`
      : 'blind-index key: none',
  );
  const signing = signingKeys.map((key) => `${key.keyId} v${key.version} created ${day(key.createdAt)} ${key.current ? 'current' : `retired ${key.retiredAt ? day(key.retiredAt) : ''}`.trim()}`);
  lines.push(`access-log signing keys (Ed25519): ${signing.join('; ') || 'none'}`);
  lines.push(
    tenantKeyStore
      ? `tenant key store: ${tenantKeyStore.kind}, ${tenantKeyStore.description}: ${plural(tenantKeyStore.tenantsWithKeys, 'tenant key')}, ${plural(tenantKeyStore.tombstones, 'tombstone')}`
      : 'tenant key store: none (tenant keys are wrapped by the master key; a deletion cannot shred)',
  );
  return lines;
}

function tlsLines({ tls }: CryptoInventory): string[] {
  const lines = [`TLS profile: ${tls.profile}, ${tls.minVersion} to ${tls.maxVersion}, ciphers ${tls.ciphers.join(' ')}, curves ${tls.curves.join(' ')}`];
  const cert = tls.certificate;
  lines.push(
    cert
      ? `TLS certificate: ${cert.algorithm}, subject ${cert.subject}, SHA-256 ${cert.fingerprint}, expires ${cert.notAfter} (${cert.daysLeft} days), ${cert.source} ${cert.file}`
      : `TLS certificate: ${tls.note}`,
  );
  return lines;
}

function ownerLine(owner: OwnerKeys): string {
  const versions = owner.versions.map((v) => {
    const algorithms = Object.entries(v.valuesByAlgorithm);
    const split = algorithms.length > 1 ? ` (${algorithms.map(([name, n]) => `${name} ${n}`).join(', ')})` : '';
    return `v${v.version} ${v.state} ${v.algorithm} ${day(v.createdAt)}${v.destroyedAt ? ` destroyed ${day(v.destroyedAt)}` : ''} ${plural(v.values, 'value')}${split}`;
  });
  const age = owner.ageDays === null ? '' : `  age ${owner.ageDays} days`;
  return `${owner.owner}  ${versions.join('; ')}${age}${owner.due ? `  DUE: ${owner.dueReasons.join('; ')}` : ''}`;
}

/** The inventory as lines of text (the running jobs' progress is drawn by the command). */
export function inventoryText(inventory: CryptoInventory): string[] {
  const { primaryCipher, primaryAlgorithm, maxAgeDays } = inventory.dataKeys;
  const due = inventory.owners.filter((owner) => owner.due).length;
  return [
    ...hierarchyLines(inventory),
    ...tlsLines(inventory),
    `data keys: primary cipher ${primaryCipher} (${primaryAlgorithm}), maximum age ${maxAgeDays === null ? 'off' : `${maxAgeDays} days`}; ${plural(inventory.owners.length, 'owner')}, ${due} due`,
    ...inventory.owners.map(ownerLine),
  ];
}

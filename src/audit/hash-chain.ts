import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/sha256.js';
import type { AccessLogEntry } from './access-event.js';

/** Each tenant's chain starts from its own anchor, so entries cannot be moved between tenants' chains. */
export function genesisHash(tenantId: string): string {
  return sha256Hex(`confide-access-log-genesis:${tenantId}`);
}

/**
 * SHA-256 over the RFC 8785 canonical JSON of every field of the entry (absent fields as null),
 * the tenant it belongs to and the previous entry's hash. Any edit, deletion or reordering
 * breaks the chain from that entry on.
 */
export function entryHash(tenantId: string, entry: Omit<AccessLogEntry, 'hash'>): string {
  return sha256Hex(entryCanonicalJson(tenantId, entry));
}

const json = JSON.stringify;

/**
 * The entry's RFC 8785 form, written out for its one fixed shape: keys in UTF-16 code-unit order,
 * strings and numbers as JSON.stringify writes them (RFC 8785 writes them the same way), and only
 * the free-form `details` through the general canonicaliser. It is on every access to customer
 * data, where walking the whole object generically cost several times more; hash-chain.test.ts
 * holds it equal to the general canonicaliser over the same object.
 */
function entryCanonicalJson(tenantId: string, entry: Omit<AccessLogEntry, 'hash'>): string {
  const { actor, resource } = entry;
  return (
    `{"action":${json(entry.action)},"actor":{"id":${json(actor.id)},"type":${json(actor.type)}},"at":${json(entry.at)}` +
    `,"details":${entry.details ? canonicalJson(entry.details) : 'null'},"grantId":${json(entry.grantId ?? null)},"ip":${json(entry.ip)}` +
    `,"justification":${json(entry.justification ?? null)},"prevHash":${json(entry.prevHash)}` +
    `,"resource":{"collection":${json(resource.collection ?? null)},"id":${json(resource.id ?? null)},"type":${json(resource.type)}}` +
    `,"seq":${json(entry.seq)},"tenantId":${json(tenantId)}}`
  );
}

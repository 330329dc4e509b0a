import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import type { AccessLogEntry } from './access-event.js';

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

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
  return sha256Hex(
    canonicalJson({
      tenantId,
      seq: entry.seq,
      at: entry.at,
      actor: entry.actor,
      action: entry.action,
      resource: {
        type: entry.resource.type,
        collection: entry.resource.collection ?? null,
        id: entry.resource.id ?? null,
      },
      details: entry.details ?? null,
      grantId: entry.grantId ?? null,
      justification: entry.justification ?? null,
      ip: entry.ip,
      prevHash: entry.prevHash,
    }),
  );
}

import type { Selectable } from 'kysely';
import type { AccessLogTable } from '../db/schema.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import type { AccessAction, AccessLogEntry, ActorType } from './access-event.js';

/** The client IP and the details are personal data: they rest encrypted under the tenant's key. */
export function entryToRow(tenantId: string, entry: AccessLogEntry, cipher: Cipher): AccessLogTable {
  return {
    tenant_id: tenantId,
    seq: entry.seq,
    at: entry.at,
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    action: entry.action,
    resource_type: entry.resource.type,
    resource_collection: entry.resource.collection ?? null,
    resource_id: entry.resource.id ?? null,
    grant_id: entry.grantId ?? null,
    justification: entry.justification ?? null,
    ip_enc: cipher.encrypt(entry.ip, ENCRYPTED_FIELDS.accessLogIp.location({ tenant_id: tenantId, seq: entry.seq })),
    details_enc: entry.details ? cipher.encrypt(JSON.stringify(entry.details), ENCRYPTED_FIELDS.accessLogDetails.location({ tenant_id: tenantId, seq: entry.seq })) : null,
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

/** Throws when an encrypted field does not authenticate: the verifier reports that as tampering. */
export function rowToEntry(row: Selectable<AccessLogTable>, cipher: Cipher): AccessLogEntry {
  const entry: AccessLogEntry = {
    seq: Number(row.seq),
    at: row.at,
    actor: { type: row.actor_type as ActorType, id: row.actor_id },
    action: row.action as AccessAction,
    resource: { type: row.resource_type },
    ip: row.ip_enc === null ? '' : cipher.decrypt(row.ip_enc, ENCRYPTED_FIELDS.accessLogIp.location(row)),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
  if (row.resource_collection !== null) entry.resource.collection = row.resource_collection;
  if (row.resource_id !== null) entry.resource.id = row.resource_id;
  if (row.details_enc !== null) {
    entry.details = JSON.parse(cipher.decrypt(row.details_enc, ENCRYPTED_FIELDS.accessLogDetails.location(row))) as Record<string, unknown>;
  }
  if (row.grant_id !== null) entry.grantId = row.grant_id;
  if (row.justification !== null) entry.justification = row.justification;
  return entry;
}

import type { Kysely, Selectable } from 'kysely';
import type { DB, SecurityEventsTable } from '../db/schema.js';
import { fillPage } from '../lib/page-budget.js';
import type { SecurityEvent, SecurityEventActor } from '../core/security-events.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { blindIndex } from '../keys/blind-index.js';
import { clientSource } from '../lib/client-source.js';
import { newId } from '../lib/ids.js';

export interface StoredSecurityEvent {
  id: string;
  at: string;
  type: string;
  outcome: string;
  actor: SecurityEventActor | null;
  ip: string;
  details?: Record<string, unknown>;
}

/**
 * Security events stored centrally (the database every node shares). An event about a user but
 * no particular tenant (a failed sign-in) is filed under each tenant the user belongs to, so every
 * organisation sees attempts on its members' accounts. IPs and details rest encrypted under the
 * system key; the source (IPv4 address or IPv6 /64, as sign-in throttling counts it) is also kept
 * as a blind index under `indexKey`, so monitoring rules count per source without decrypting.
 */
export async function storeSecurityEvent(db: Kysely<DB>, cipher: Cipher, indexKey: Buffer, at: string, event: SecurityEvent): Promise<void> {
  let tenants: Array<string | null> = [event.tenantId ?? null];
  if (!event.tenantId && event.userId) {
    const rows = await db.selectFrom('memberships').select('tenant_id').where('user_id', '=', event.userId).execute();
    if (rows.length > 0) tenants = rows.map((row) => row.tenant_id);
  }
  const actor = event.actor ?? (event.userId ? { type: 'member' as const, id: event.userId } : undefined);
  const sourceIndex = event.ip ? securityEventSourceIndex(indexKey, event.ip) : null;
  await db
    .insertInto('security_events')
    .values(
      tenants.map((tenantId) => {
        const id = newId();
        return {
          id,
          tenant_id: tenantId,
          at,
          type: event.type,
          outcome: event.outcome,
          user_id: event.userId ?? null,
          actor_type: actor?.type ?? null,
          actor_id: actor?.id ?? null,
          source_index: sourceIndex,
          records: event.records ?? null,
          target_index: event.targetIndex ?? null,
          ip_enc: event.ip === undefined ? null : cipher.encrypt(event.ip, ENCRYPTED_FIELDS.securityEventsIp.location({ id })),
          details_enc: event.details === undefined ? null : cipher.encrypt(JSON.stringify(event.details), ENCRYPTED_FIELDS.securityEventsDetails.location({ id })),
        };
      }),
    )
    .execute();
}

/** The blind index `security_events.source_index` holds for an address: the monitor looks sources up by it. */
export function securityEventSourceIndex(indexKey: Buffer, ip: string): string {
  return blindIndex(indexKey, 'source', clientSource(ip));
}

/**
 * The blind index `security_events.target_index` holds for the normalised e-mail address a sign-in
 * tried. Its own label, so it never equals the accounts' `email_index` (no join from events to
 * accounts), and one label for both realms: a source trying one address counts it once.
 */
export function securityEventTargetIndex(indexKey: Buffer, normalisedEmail: string): string {
  return blindIndex(indexKey, 'signin-target', normalisedEmail);
}

/**
 * A tenant's events, newest first: at most `limit`, and ending early before the page's JSON would
 * pass `maxBytes` (always at least one event), as every list does.
 */
export async function listSecurityEvents(
  db: Kysely<DB>,
  cipher: Cipher,
  tenantId: string,
  options: { limit: number; beforeId?: string; type?: string; maxBytes: number; longestCursor: string },
): Promise<{ items: StoredSecurityEvent[]; nextBeforeId: string | null }> {
  const page = await fillPage({
    limit: options.limit,
    maxBytes: options.maxBytes,
    longestCursor: options.longestCursor,
    read: (after: Selectable<SecurityEventsTable> | undefined, count) => {
      let query = db.selectFrom('security_events').selectAll().where('tenant_id', '=', tenantId).orderBy('id', 'desc').limit(count);
      const before = after?.id ?? options.beforeId;
      if (before) query = query.where('id', '<', before);
      if (options.type) query = query.where('type', '=', options.type);
      return query.execute();
    },
    toItem: (row) => eventOf(cipher, row),
  });
  return { items: page.items, nextBeforeId: page.more && page.lastRow ? page.lastRow.id : null };
}

/** A staff event: as a tenant's, plus the tenant it is filed under (null for one about no tenant, such as a sign-in). */
export interface StoredStaffEvent extends StoredSecurityEvent {
  tenantId: string | null;
}

/**
 * Every staff action across tenants, newest first, for security-admins: events whose actor is
 * staff, and every `staff.*` event (a sign-in attempt for an unknown address, a tenant's decision
 * on a request, without the deciding member's address); with `staffId`, only those that staff
 * member did. Pages are bounded as listSecurityEvents's are.
 */
export async function listStaffEvents(
  db: Kysely<DB>,
  cipher: Cipher,
  options: { limit: number; beforeId?: string; staffId?: string; maxBytes: number; longestCursor: string },
): Promise<{ items: StoredStaffEvent[]; nextBeforeId: string | null }> {
  const page = await fillPage({
    limit: options.limit,
    maxBytes: options.maxBytes,
    longestCursor: options.longestCursor,
    read: (after: Selectable<SecurityEventsTable> | undefined, count) => {
      let query = db.selectFrom('security_events').selectAll().orderBy('id', 'desc').limit(count);
      const staffId = options.staffId;
      query =
        staffId === undefined
          ? query.where((eb) => eb.or([eb('actor_type', '=', 'staff'), eb('type', 'like', 'staff.%')]))
          : query.where('actor_type', '=', 'staff').where('actor_id', '=', staffId);
      const before = after?.id ?? options.beforeId;
      if (before) query = query.where('id', '<', before);
      return query.execute();
    },
    // A tenant member's address is the tenant's personal data, not staff's: it stays out of this listing.
    toItem: (row) => ({ ...eventOf(cipher, row), ...(row.actor_type === 'member' ? { ip: '' } : {}), tenantId: row.tenant_id }),
  });
  return { items: page.items, nextBeforeId: page.more && page.lastRow ? page.lastRow.id : null };
}

/** A stored row as its reader sees it: IP and details decrypted. */
export function eventOf(cipher: Cipher, row: Selectable<SecurityEventsTable>): StoredSecurityEvent {
  return {
    id: row.id,
    at: row.at,
    type: row.type,
    outcome: row.outcome,
    actor: actorOf(row),
    ip: row.ip_enc ? cipher.decrypt(row.ip_enc, ENCRYPTED_FIELDS.securityEventsIp.location(row)) : '',
    ...(row.details_enc ? { details: JSON.parse(cipher.decrypt(row.details_enc, ENCRYPTED_FIELDS.securityEventsDetails.location(row))) as Record<string, unknown> } : {}),
  };
}

function actorOf(row: { actor_type: string | null; actor_id: string | null; user_id: string | null }): SecurityEventActor | null {
  if (row.actor_type && row.actor_id) return { type: row.actor_type as SecurityEventActor['type'], id: row.actor_id };
  return row.user_id ? { type: 'member', id: row.user_id } : null;
}

/**
 * Deletes events older than the retention period, a batch at a time, so one run never holds a
 * long transaction. Returns how many were deleted. (The access log is never pruned.)
 */
export async function pruneSecurityEvents(db: Kysely<DB>, olderThan: string, batchSize = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const ids = await db.selectFrom('security_events').select('id').where('at', '<', olderThan).limit(batchSize).execute();
    if (ids.length === 0) return total;
    const result = await db.deleteFrom('security_events').where('id', 'in', ids.map((row) => row.id)).executeTakeFirst();
    total += Number(result.numDeletedRows);
  }
}

import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { ApiKeyPrincipal, ApiKeyScope } from '../core/principal.js';
import type { Cipher } from '../keys/cipher.js';
import { ENCRYPTED_FIELDS } from '../keys/encrypted-fields.js';
import { hashToken } from '../lib/random-token.js';
import type { Clock } from '../lib/time.js';

export const API_KEY_PREFIX = 'cfk_';
/** Refresh `last_used_at` at most this often per key: one write a minute, not one per request. */
const LAST_USED_PRECISION_MS = 60_000;

/**
 * `cfk_<12 public characters>_<256 secret bits>`. The first 16 characters are the non-secret
 * prefix shown in listings (and recognisable by secret scanners); only a SHA-256 of the whole key
 * is stored.
 */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = `${API_KEY_PREFIX}${randomBytes(9).toString('base64url')}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashToken(key) };
}

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scope: ApiKeyScope;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export async function insertApiKey(
  trx: Kysely<DB>,
  cipher: Cipher,
  row: { id: string; tenantId: string; name: string; prefix: string; hash: string; scope: ApiKeyScope; createdBy: string; createdAt: string; expiresAt: string | null },
): Promise<void> {
  await trx
    .insertInto('api_keys')
    .values({
      id: row.id,
      tenant_id: row.tenantId,
      name_enc: cipher.encrypt(row.name, ENCRYPTED_FIELDS.apiKeysName.location({ tenant_id: row.tenantId, id: row.id })),
      prefix: row.prefix,
      key_hash: row.hash,
      scope: row.scope,
      created_by: row.createdBy,
      created_at: row.createdAt,
      expires_at: row.expiresAt,
      last_used_at: null,
      revoked_at: null,
    })
    .execute();
}

export async function listApiKeys(db: Kysely<DB>, tenantId: string, cipher: Cipher): Promise<ApiKeyView[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'asc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: cipher.decrypt(row.name_enc, ENCRYPTED_FIELDS.apiKeysName.location({ tenant_id: tenantId, id: row.id })),
    prefix: row.prefix,
    scope: row.scope,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
  }));
}

export async function revokeApiKey(trx: Kysely<DB>, tenantId: string, id: string, now: string): Promise<boolean> {
  const result = await trx
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Revokes every live key a member created in this tenant, returning their ids: a key must not
 * outlive its creator's right to make it (removal, or demotion to a role that cannot manage keys).
 */
export async function revokeKeysCreatedBy(trx: Kysely<DB>, tenantId: string, userId: string, now: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('api_keys')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('created_by', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  await trx.updateTable('api_keys').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
  return ids;
}

export async function countLiveApiKeys(db: Kysely<DB>, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The principal behind a key, unless it is unknown, revoked or expired. Records its use. */
export async function resolveApiKey(db: Kysely<DB>, clock: Clock, key: string): Promise<ApiKeyPrincipal | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'tenant_id', 'scope', 'expires_at', 'last_used_at', 'revoked_at'])
    .where('key_hash', '=', hashToken(key))
    .executeTakeFirst();
  const now = clock.now();
  if (!row || row.revoked_at !== null || (row.expires_at !== null && new Date(row.expires_at) <= now)) return undefined;
  if (!row.last_used_at || now.getTime() - new Date(row.last_used_at).getTime() > LAST_USED_PRECISION_MS) {
    await db.updateTable('api_keys').set({ last_used_at: now.toISOString() }).where('id', '=', row.id).execute();
  }
  return { kind: 'apiKey', apiKeyId: row.id, tenantId: row.tenant_id, scope: row.scope };
}

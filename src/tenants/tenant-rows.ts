import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * Tables whose rows belong to one tenant, by the column naming it, children before parents (the
 * foreign keys). Every table with a `tenant_id` column is here or in KEPT_AFTER_DELETION: a test
 * reads the schema and fails on a new table that is in neither.
 */
export const TENANT_TABLES = [
  ['access_grants', 'tenant_id'],
  ['access_requests', 'tenant_id'],
  ['record_files', 'tenant_id'],
  ['records', 'tenant_id'],
  ['collections', 'tenant_id'],
  ['api_keys', 'tenant_id'],
  ['invitations', 'tenant_id'],
  ['tenant_settings', 'tenant_id'],
  ['mfa_challenges', 'tenant_id'],
  ['sessions', 'tenant_id'],
  ['memberships', 'tenant_id'],
  ['security_events', 'tenant_id'],
  ['access_log', 'tenant_id'],
  ['access_log_heads', 'tenant_id'],
  ['key_rotations', 'owner'],
  ['key_ring', 'owner'],
  ['tenants', 'id'],
] as const;

/** Kept for the operator: the tenant's signed checkpoints (no plaintext, no foreign key), the final one sealing the deletion. */
export const KEPT_AFTER_DELETION = ['access_log_checkpoints'] as const;

/** Tables of a user's own account: removed with a user who belonged to the deleted tenant and to no other. */
const USER_TABLES = ['sessions', 'mfa_challenges', 'email_verifications', 'password_resets', 'totp_factors', 'recovery_codes', 'webauthn_credentials', 'webauthn_challenges', 'security_events'] as const;

/**
 * Removes everything of a tenant inside the caller's transaction, and the accounts of its members
 * who belong to no other tenant: a customer that leaves expects its people gone too, while a person
 * who also works in another tenant keeps their account there. Returns how many accounts went.
 */
export async function removeTenantRows(trx: Kysely<DB>, tenantId: string): Promise<{ users: number }> {
  const members = (await trx.selectFrom('memberships').select('user_id').where('tenant_id', '=', tenantId).execute()).map((row) => row.user_id);
  const elsewhere = members.length === 0 ? [] : await trx.selectFrom('memberships').select('user_id').where('user_id', 'in', members).where('tenant_id', '<>', tenantId).execute();
  const keep = new Set(elsewhere.map((row) => row.user_id));
  const leaving = members.filter((id) => !keep.has(id));
  const loose = trx as unknown as Kysely<Record<string, Record<string, string>>>; // the table lists above name real columns; Kysely cannot type a table chosen at run time
  for (const [table, column] of TENANT_TABLES) {
    if (table === 'tenants') await removeAccounts(loose, leaving);
    await loose.deleteFrom(table).where(column, '=', tenantId).execute();
  }
  return { users: leaving.length };
}

async function removeAccounts(trx: Kysely<Record<string, Record<string, string>>>, users: string[]): Promise<void> {
  if (users.length === 0) return;
  for (const table of USER_TABLES) await trx.deleteFrom(table).where('user_id', 'in', users).execute();
  await trx.deleteFrom('users').where('id', 'in', users).execute();
}

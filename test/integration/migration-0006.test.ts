import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, type Database } from '../../src/db/database.js';
import { migrationProvider } from '../../src/db/migrations/index.js';
import { DIALECTS, freshPostgresSchema } from '../harness/dialects.js';

/**
 * Upgrading a deployment to 0006 (issue 6): API keys whose creator was already removed or demoted
 * are revoked, members who joined by invitation count as verified, and sign-up owners must verify.
 */
describe.each(DIALECTS)('migration 0006 on an existing %s database', (dialect) => {
  let database: Database | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await database?.close();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  async function openAt(version: string): Promise<Database> {
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'confide-migration-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      database = await openDatabase({ kind: 'sqlite', file: join(dir, 'confide.db') }, randomBytes(32));
    } else {
      database = await openDatabase({ kind: 'postgres', url: (await freshPostgresSchema()).url }, randomBytes(32));
    }
    const migrationTableSchema = await database.dialect.migrationTableSchema(database.db);
    const migrator = new Migrator({ db: database.db, provider: migrationProvider, ...(migrationTableSchema ? { migrationTableSchema } : {}) });
    const { error } = await migrator.migrateTo(version);
    expect(error).toBeUndefined();
    return database;
  }

  it('revokes keys that outlived their creator, keeps the others, and backfills verification from invitations', async () => {
    const db = await openAt('0005-webauthn');
    const at = '2026-01-01T00:00:00.000Z';
    await sql`INSERT INTO tenants (id, name_enc, created_at) VALUES ('t1', 'x', ${at})`.execute(db.db);
    for (const [id, role] of [['owner', 'owner'], ['demoted', 'member'], ['admin', 'admin']] as const) {
      await sql`INSERT INTO users (id, email_enc, email_index, password_hash, created_at) VALUES (${id}, 'x', ${`idx-${id}`}, 'h', ${at})`.execute(db.db);
      await sql`INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ('t1', ${id}, ${role}, ${at})`.execute(db.db);
    }
    const keys: Array<[string, string]> = [['k-owner', 'owner'], ['k-admin', 'admin'], ['k-demoted', 'demoted'], ['k-removed', 'removed-user']];
    for (const [id, createdBy] of keys) {
      await sql`INSERT INTO api_keys (id, tenant_id, name_enc, prefix, key_hash, scope, created_by, created_at)
                VALUES (${id}, 't1', 'x', ${`p-${id}`}, ${`h-${id}`}, 'read-write', ${createdBy}, ${at})`.execute(db.db);
    }
    await sql`INSERT INTO invitations (id, tenant_id, email_enc, email_index, role, token_hash, invited_by, created_at, expires_at, accepted_at)
              VALUES ('i1', 't1', 'x', 'idx-admin', 'admin', 'th', 'owner', ${at}, ${at}, '2026-01-02T00:00:00.000Z')`.execute(db.db);

    await migrateToLatest(db);

    const revoked = await db.db.selectFrom('api_keys').select(['id', 'revoked_at']).orderBy('id').execute();
    expect(Object.fromEntries(revoked.map((row) => [row.id, row.revoked_at !== null]))).toEqual({
      'k-admin': false,
      'k-demoted': true,
      'k-owner': false,
      'k-removed': true,
    });
    const users = await db.db.selectFrom('users').select(['id', 'email_verified_at']).orderBy('id').execute();
    expect(Object.fromEntries(users.map((row) => [row.id, row.email_verified_at]))).toEqual({
      admin: '2026-01-02T00:00:00.000Z', // joined by invitation: the address was proven
      demoted: null,
      owner: null, // signed up: must verify after the upgrade (docs/operations.md)
    });
  });
});

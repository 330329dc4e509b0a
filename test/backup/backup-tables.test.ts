import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { BACKUP_TABLES, TABLES_NOT_BACKED_UP } from '../../src/backup/backup-tables.js';
import type { DB } from '../../src/db/schema.js';
import { migratedMemoryDatabase } from '../harness/memory-database.js';

/** Guards the backup against a new table nobody told it about (src/backup/backup-tables.ts). */
describe('the tables a backup carries', () => {
  let db: Kysely<DB>;
  beforeAll(async () => {
    db = await migratedMemoryDatabase();
  });
  afterAll(() => db.destroy());

  it('are every table the migrations make, but the node-local ones (worker_leases, node_certificates) and Kysely’s own: a new table must be decided on', async () => {
    const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'`.execute(db);
    const decided = [...BACKUP_TABLES, ...TABLES_NOT_BACKED_UP];
    expect(rows.map((row) => row.name).sort()).toEqual([...decided].sort());
    expect(new Set(decided).size).toBe(decided.length);
  });

  it('are listed parents first, so a load satisfies each foreign key as it goes', async () => {
    const position = new Map<string, number>(BACKUP_TABLES.map((table, i) => [table, i]));
    let checked = 0;
    for (const table of BACKUP_TABLES) {
      const { rows } = await sql<{ table: string }>`select "table" from pragma_foreign_key_list(${table})`.execute(db);
      for (const { table: parent } of rows) {
        expect(position.get(parent), `${table} references ${parent}`).toBeLessThan(position.get(table)!);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});

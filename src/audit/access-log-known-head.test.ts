import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { openDatabase, migrateToLatest, type Database } from '../db/database.js';
import type { DB } from '../db/schema.js';
import { transactionRunner } from '../db/transaction-runner.js';
import { createCipher } from '../keys/cipher.js';
import { systemClock } from '../lib/time.js';
import type { AccessEvent } from './access-event.js';
import { AccessLog } from './access-log.js';
import { verifyAccessLog } from './verify-access-log.js';

/*
 * On SQLite the access log takes the head it last wrote as the head, without reading it
 * (appendAfterKnownHead). That must never fork or break the chain: not when another process
 * appends to the same file, not when a transaction that moved the head rolls back, not when the
 * tenant goes.
 */
describe('the access log on SQLite, appending after the head it knows', () => {
  let dir: string;
  let database: Database;
  let pageKey: Buffer;
  const tenantId = 'tenant-known-head';
  const cipher = createCipher(tenantId, new Map([[1, randomBytes(32)]]));
  const event: AccessEvent = { actor: { type: 'member', id: 'u1' }, action: 'read', resource: { type: 'record', collection: 'c', id: 'r1' }, ip: '192.0.2.1' };

  /** An access log as one process has it: its own runner over its own handle on the file. */
  const processLog = (db: Kysely<DB>) => new AccessLog(transactionRunner(db, database.dialect), database.dialect, systemClock);
  const append = (log: AccessLog, db: Kysely<DB>) => db.transaction().execute((trx) => log.appendInTransaction(trx, tenantId, cipher, event));
  const seqs = async () => (await database.db.selectFrom('access_log').select('seq').where('tenant_id', '=', tenantId).orderBy('seq').execute()).map((row) => Number(row.seq));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'confide-known-head-'));
    pageKey = randomBytes(32);
    database = await openDatabase({ kind: 'sqlite', file: join(dir, 'confide.db') }, pageKey);
    await migrateToLatest(database);
    await database.db.insertInto('tenants').values({ id: tenantId, name_enc: cipher.encrypt('Tenant', { table: 'tenants', rowId: tenantId, field: 'name' }), created_at: new Date().toISOString() }).execute();
    await processLog(database.db).startChain(database.db, tenantId);
  });
  afterEach(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('goes on from another process’s appends to the same file', async () => {
    const second = await openDatabase({ kind: 'sqlite', file: join(dir, 'confide.db') }, pageKey); // as a CLI command would
    try {
      const mine = processLog(database.db);
      const theirs = processLog(second.db);
      await append(mine, database.db); // 1: now it knows the head
      await append(theirs, second.db); // 2, written behind its back
      await append(theirs, second.db); // 3
      await append(mine, database.db); // must be 4, after 3, not a second 2
      expect(await seqs()).toEqual([1, 2, 3, 4]);
      const report = await verifyAccessLog(database.db, tenantId, cipher);
      expect(report.problems).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('goes on from the stored head when a transaction that moved it rolled back', async () => {
    const log = processLog(database.db);
    await append(log, database.db);
    await expect(
      database.db.transaction().execute(async (trx) => {
        await log.appendInTransaction(trx, tenantId, cipher, event);
        throw new Error('the change failed after its entry');
      }),
    ).rejects.toThrow('the change failed');
    await append(log, database.db);
    expect(await seqs()).toEqual([1, 2]);
    expect((await verifyAccessLog(database.db, tenantId, cipher)).problems).toEqual([]);
  });

  it('refuses, as before, once the tenant’s chain is gone', async () => {
    const log = processLog(database.db);
    await append(log, database.db);
    await database.db.deleteFrom('access_log_heads').where('tenant_id', '=', tenantId).execute();
    await expect(append(log, database.db)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });
});

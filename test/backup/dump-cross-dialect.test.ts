import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatabase } from '../../src/backup/database-load.js';
import type { DumpLine } from '../../src/backup/dump-format.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { contentOf, dumpOf, dumpOfDatabase, emptyDatabase, summariesOf } from './dump-fixture.js';

/** Past 2^53: a JavaScript number would round it; the dump must carry it exactly. */
const HUGE_COUNTER = 2n ** 60n + 7n;

describe.runIf(DIALECTS.includes('sqlite') && DIALECTS.includes('postgres'))('a dump moves between SQLite and PostgreSQL unchanged', () => {
  let t: TestApp;
  let first: DumpLine[];

  beforeAll(async () => {
    t = await createTestApp('sqlite');
    const owner = await buildTenant(t);
    await buildRecord(t, owner, 'patients', { name: 'Grace Hopper', tags: ['a', 'ö'] });
    // Keys whose order differs between byte order and a locale's collation ('Zeta' < 'alpha' in bytes only).
    await t.app.services.db.insertInto('system_meta').values([{ key: 'test.Zeta', value: '1' }, { key: 'test.alpha', value: '2' }]).execute();
    expect((await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: { sessionIdleSeconds: 3600 } })).statusCode).toBe(200);
    await t.app.services.db
      .insertInto('webauthn_credentials')
      .values({ id: 'cred-1', user_id: owner.userId, credential_id: 'Y3JlZA', public_key: 'cHVi', counter: HUGE_COUNTER as unknown as number, transports: '["usb"]', created_at: t.clock.now().toISOString(), last_used_at: null })
      .execute();
    first = await dumpOf(t);
  });
  afterAll(() => t.close());

  it('SQLite → PostgreSQL → SQLite: the three dumps have the same checksums, and the last database equals the first', async () => {
    const { masterKey } = t.app.services;
    const postgres = await emptyDatabase('postgres', masterKey, true);
    // As in a database created with a locale: ICU's root collation sorts 'alpha' before 'Zeta', bytes do not.
    await sql`alter table system_meta alter column key type text collate "und-x-icu"`.execute(postgres.database.db);
    const sqlite = await emptyDatabase('sqlite', masterKey);
    try {
      await loadDatabase(postgres.database, first);
      const second = await dumpOfDatabase(postgres, masterKey);
      await loadDatabase(sqlite.database, second);
      const third = await dumpOfDatabase(sqlite, masterKey);

      expect(second[0]).toMatchObject({ t: 'schema', dialect: 'postgres' });
      // Ordered by bytes on both stores, whatever PostgreSQL's collation: the checksums depend on it.
      expect(summariesOf(second)).toEqual(summariesOf(first));
      expect(summariesOf(third)).toEqual(summariesOf(first));
      expect(contentOf(third)).toEqual(contentOf(first));
      const counter = await postgres.database.db.selectFrom('webauthn_credentials').select('counter').executeTakeFirstOrThrow();
      expect(String(counter.counter)).toBe(HUGE_COUNTER.toString());
      expect(JSON.stringify(first)).toContain(`{"int":"${HUGE_COUNTER}"}`);
    } finally {
      await postgres.dispose();
      await sqlite.dispose();
    }
  });
});

import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.js';
import type { KeyRing } from '../../src/keys/key-ring.js';
import { sealRecordData } from '../../src/records/record.js';
import { newId } from '../../src/lib/ids.js';

// No vitest here: bench/reencrypt.ts fills its database with this too.

/**
 * FIXTURE, not the product's path: writes `count` records of a tenant straight into the database (into a collection that exists),
 * sealed through its real cipher as the records use case seals them, in batched inserts, so a
 * rotation test can have ten thousand values in seconds. Other values come through the API.
 */
export async function insertRecords(db: Kysely<DB>, keyRing: KeyRing, tenantId: string, collection: string, count: number, now: string): Promise<void> {
  const cipher = await keyRing.cipherFor(tenantId);
  for (let start = 0; start < count; start += 500) {
    const rows = Array.from({ length: Math.min(500, count - start) }, (_, i) => {
      const id = newId();
      const data = { n: start + i, name: `bulk-${start + i}` };
      return { tenant_id: tenantId, collection, id, data_enc: sealRecordData(cipher, collection, id, data), version: 1, created_at: now, updated_at: now };
    });
    await db.insertInto('records').values(rows).execute();
  }
}

import { expect } from 'vitest';
import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.js';
import type { KeyRing } from '../../src/keys/key-ring.js';
import { SYSTEM_OWNER } from '../../src/keys/key-ring.js';
import { ENCRYPTED_FIELDS } from '../../src/keys/encrypted-fields.js';
import { columnsOwnedBy, countValues } from '../../src/key-rotation/column-walk.js';
import { newId } from '../../src/lib/ids.js';

export { insertRecords } from './bulk-records.js';

/** FIXTURE: an access request with every encrypted field filled (reason, ticket, decision reason, review notes). */
export async function insertFullAccessRequest(db: Kysely<DB>, keyRing: KeyRing, tenantId: string, staffId: string, now: string): Promise<void> {
  const cipher = await keyRing.cipherFor(tenantId);
  const id = newId();
  const seal = (field: 'accessRequestsReason' | 'accessRequestsTicket' | 'accessRequestsDecisionReason' | 'accessRequestsReviewNotes', text: string) =>
    cipher.encrypt(text, ENCRYPTED_FIELDS[field].location({ id }));
  await db
    .insertInto('access_requests')
    .values({
      id,
      tenant_id: tenantId,
      staff_id: staffId,
      scope: 'read',
      justification: 'INCIDENT_RESPONSE',
      reason_enc: seal('accessRequestsReason', 'the reason'),
      ticket_enc: seal('accessRequestsTicket', 'INC-1'),
      duration_minutes: 30,
      break_glass: 0,
      status: 'denied',
      created_at: now,
      decided_at: now,
      decided_by_type: 'system',
      decided_by: null,
      decision_reason_enc: seal('accessRequestsDecisionReason', 'not now'),
      reviewed_at: now,
      reviewed_by: null,
      review_notes_enc: seal('accessRequestsReviewNotes', 'reviewed'),
    })
    .execute();
}

/** Every value `owner`'s key seals, read straight from the database: field, location row and ciphertext. */
export async function ownedValues(db: Kysely<DB>, owner: string) {
  const values: Array<{ field: string; row: Record<string, unknown>; stored: string; location: ReturnType<(typeof ENCRYPTED_FIELDS)['recordsData']['location']> }> = [];
  for (const field of columnsOwnedBy(owner)) {
    let query = (db as Kysely<any>).selectFrom(field.table).selectAll().where(field.column, 'is not', null);
    if (field.owner.kind === 'tenant') query = query.where(field.owner.tenantColumn, '=', owner);
    for (const row of (await query.execute()) as Array<Record<string, unknown>>) {
      values.push({ field: field.name, row, stored: row[field.column] as string, location: field.location(row) });
    }
  }
  return values;
}

/** Checks that every value of `owner` opens and is sealed with `version`; returns how many there are, by field. */
export async function expectAllUnder(db: Kysely<DB>, keyRing: KeyRing, owner: string, version: number): Promise<Record<string, number>> {
  const cipher = owner === SYSTEM_OWNER ? keyRing.systemCipher() : await keyRing.cipherFor(owner);
  const byField: Record<string, number> = {};
  for (const value of await ownedValues(db, owner)) {
    expect(value.stored.split('.')[2], `${value.field} of ${JSON.stringify(value.location)}`).toBe(String(version));
    expect(() => cipher.decrypt(value.stored, value.location)).not.toThrow();
    byField[value.field] = (byField[value.field] ?? 0) + 1;
  }
  return byField;
}

export async function countOwned(db: Kysely<DB>, owner: string): Promise<number> {
  let total = 0;
  for (const field of columnsOwnedBy(owner)) total += await countValues(db, field, owner);
  return total;
}

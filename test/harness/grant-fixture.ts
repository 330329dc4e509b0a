import { ENCRYPTED_FIELDS } from '../../src/keys/encrypted-fields.js';
import { newId } from '../../src/lib/ids.js';
import type { AccessScope, StoredRequestStatus } from '../../src/db/staff-schema.js';
import type { TestApp } from './test-app.js';

export interface GrantFixture {
  tenantId: string;
  staffId: string;
  scope?: AccessScope;
  /** `active` (the default) also writes the grant; `pending` and `denied` write the request alone. */
  status?: StoredRequestStatus;
  /** How long the grant lasts from now (by the test clock) [60]. */
  minutes?: number;
  justification?: 'CUSTOMER_INITIATED_SUPPORT' | 'INCIDENT_RESPONSE' | 'SECURITY_INVESTIGATION' | 'LEGAL_REQUIREMENT';
}

/**
 * FIXTURE, not the product's path: writes an access request (and, when active, its grant) straight
 * into the database, as an approval would have left them, so the grant check can be tested for
 * each state without the request and approval API. The end-to-end tests go through that API.
 */
export async function insertGrantFixture(t: TestApp, fixture: GrantFixture): Promise<{ requestId: string; grantId: string | null; justification: string }> {
  const { db, keyRing } = t.app.services;
  const now = t.clock.now();
  const requestId = newId();
  const scope = fixture.scope ?? 'read';
  const status = fixture.status ?? 'active';
  const justification = fixture.justification ?? 'CUSTOMER_INITIATED_SUPPORT';
  const minutes = fixture.minutes ?? 60;
  const cipher = await keyRing.cipherFor(fixture.tenantId);
  await db
    .insertInto('access_requests')
    .values({
      id: requestId,
      tenant_id: fixture.tenantId,
      staff_id: fixture.staffId,
      scope,
      justification,
      reason_enc: cipher.encrypt('Fixture: the customer asked us to look at their records.', ENCRYPTED_FIELDS.accessRequestsReason.location({ id: requestId })),
      ticket_enc: null,
      duration_minutes: minutes,
      break_glass: 0,
      status,
      created_at: now.toISOString(),
      decided_at: status === 'pending' ? null : now.toISOString(),
      decided_by_type: status === 'pending' ? null : 'system',
      decided_by: null,
      decision_reason_enc: null,
      reviewed_at: null,
      reviewed_by: null,
      review_notes_enc: null,
    })
    .execute();
  if (status !== 'active') return { requestId, grantId: null, justification };
  const grantId = newId();
  await db
    .insertInto('access_grants')
    .values({
      id: grantId,
      request_id: requestId,
      tenant_id: fixture.tenantId,
      staff_id: fixture.staffId,
      scope,
      justification,
      break_glass: 0,
      starts_at: now.toISOString(),
      expires_at: new Date(now.getTime() + minutes * 60_000).toISOString(),
      revoked_at: null,
      revoked_by_type: null,
      revoked_by: null,
    })
    .execute();
  return { requestId, grantId, justification };
}

/** FIXTURE: revokes a grant in the database, as the tenant's revoke would. */
export async function revokeGrantFixture(t: TestApp, grantId: string): Promise<void> {
  await t.app.services.db
    .updateTable('access_grants')
    .set({ revoked_at: t.clock.now().toISOString(), revoked_by_type: 'member', revoked_by: null })
    .where('id', '=', grantId)
    .execute();
}

import { describe, expect, it } from 'vitest';
import { newAes256Key } from '../lib/aes-gcm.js';
import { additionalData, createCipher } from './cipher.js';
import { ENCRYPTED_FIELDS, encryptedFields, ownerOf, type EncryptedFieldName } from './encrypted-fields.js';

const T = 'tenant-1';

/**
 * Each field's AAD for a sample row, exactly as values were sealed before the registry existed.
 * These strings are inside every stored ciphertext: if one of them changes, existing data no
 * longer decrypts. Do not edit a line here to make a test pass; add a line for a new field.
 */
const PINNED: Record<EncryptedFieldName, [row: Record<string, unknown>, aad: string]> = {
  tenantsName: [{ id: T }, 'confide:v1:tenant-1:tenants:tenant-1:name'],
  usersEmail: [{ id: 'u-1' }, 'confide:v1:system:users:u-1:email'],
  sessionsIp: [{ id: 's-1' }, 'confide:v1:system:sessions:s-1:ip'],
  sessionsUserAgent: [{ id: 's-1' }, 'confide:v1:system:sessions:s-1:userAgent'],
  totpFactorsSecret: [{ user_id: 'u-1' }, 'confide:v1:system:totp_factors:u-1:secret'],
  mailQueueMessage: [{ id: 'm-1' }, 'confide:v1:system:mail_queue:m-1:message'],
  securityEventsIp: [{ id: 'e-1', tenant_id: T }, 'confide:v1:system:security_events:e-1:ip'],
  securityEventsDetails: [{ id: 'e-1', tenant_id: T }, 'confide:v1:system:security_events:e-1:details'],
  apiKeysName: [{ tenant_id: T, id: 'k-1' }, 'confide:v1:tenant-1:api_keys:tenant-1/k-1:name'],
  invitationsEmail: [{ tenant_id: T, id: 'i-1' }, 'confide:v1:tenant-1:invitations:i-1:email'],
  recordsData: [{ tenant_id: T, collection: 'patients', id: 'r-1' }, 'confide:v1:tenant-1:records:patients/r-1:data'],
  accessLogIp: [{ tenant_id: T, seq: 42 }, 'confide:v1:tenant-1:access_log:tenant-1/42:ip'],
  accessLogDetails: [{ tenant_id: T, seq: '42' }, 'confide:v1:tenant-1:access_log:tenant-1/42:details'],
  staffEmail: [{ id: 'st-1' }, 'confide:v1:system:staff:st-1:email'],
  staffSessionsIp: [{ id: 'ss-1' }, 'confide:v1:system:staff_sessions:ss-1:ip'],
  staffTotpSecret: [{ staff_id: 'st-1' }, 'confide:v1:system:staff_totp_factors:st-1:secret'],
  accessRequestsReason: [{ tenant_id: T, id: 'ar-1' }, 'confide:v1:tenant-1:access_requests:ar-1:reason'],
  accessRequestsTicket: [{ tenant_id: T, id: 'ar-1' }, 'confide:v1:tenant-1:access_requests:ar-1:ticket'],
  accessRequestsDecisionReason: [{ tenant_id: T, id: 'ar-1' }, 'confide:v1:tenant-1:access_requests:ar-1:decisionReason'],
  accessRequestsReviewNotes: [{ tenant_id: T, id: 'ar-1' }, 'confide:v1:tenant-1:access_requests:ar-1:reviewNotes'],
  alertsSubject: [{ id: 'a-1' }, 'confide:v1:system:alerts:a-1:subject'],
  alertsDetails: [{ id: 'a-1' }, 'confide:v1:system:alerts:a-1:details'],
  webhookDeliveriesPayload: [{ id: 'w-1' }, 'confide:v1:system:webhook_deliveries:w-1:payload'],
  outboxEml: [{ id: 'm-1' }, 'confide:v1:system:outbox:m-1:eml'],
  recordFilesKey: [{ tenant_id: T, collection: 'patients', record_id: 'r-1', name: 'scan.pdf', upload_id: 'u-1' }, 'confide:v1:tenant-1:record_files:patients/r-1/scan.pdf/u-1:key'],
};

describe('encrypted-field registry', () => {
  it('pins every field’s AAD to the value existing ciphertexts were sealed with (SECURITY-CRITERIA crypto at rest)', () => {
    expect(encryptedFields().map(([name]) => name).sort()).toEqual(Object.keys(PINNED).sort());
    for (const [name, field] of encryptedFields()) {
      const [row, aad] = PINNED[name];
      expect(additionalData(ownerOf(field, row), field.location(row)), name).toBe(aad);
    }
  });

  it('opens a value sealed with a hand-written location through the registry, and no other field’s', () => {
    const key = new Map([[1, newAes256Key()]]);
    const sealed = createCipher(T, key).encrypt('secret', { table: 'records', rowId: 'patients/r-1', field: 'data' });
    const row = { tenant_id: T, collection: 'patients', id: 'r-1' };
    const cipher = createCipher(ownerOf(ENCRYPTED_FIELDS.recordsData, row), key);
    expect(cipher.decrypt(sealed, ENCRYPTED_FIELDS.recordsData.location(row))).toBe('secret');
    expect(() => cipher.decrypt(sealed, ENCRYPTED_FIELDS.recordsData.location({ ...row, id: 'r-2' }))).toThrow();
  });

  it('gives every field a distinct location and every table column its primary key', () => {
    const places = encryptedFields().map(([name, field]) => {
      const location = field.location(PINNED[name][0]);
      return `${location.table}:${location.field}`;
    });
    expect(new Set(places).size).toBe(places.length);
    for (const [name, field] of encryptedFields()) {
      if (field.kind !== 'column') continue;
      expect(field.column, name).toMatch(/_enc$/);
      expect(field.primaryKey.length, name).toBeGreaterThan(0);
      for (const column of field.locationColumns) expect(Object.keys(PINNED[name][0]), name).toContain(column);
    }
  });
});

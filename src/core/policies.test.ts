import { describe, expect, it } from 'vitest';
import { AppError } from '../lib/app-error.js';
import { authorize, isAllowed } from './policies.js';
import type { ApiKeyPrincipal, MemberPrincipal, Role, StaffGrantScope, StaffPrincipal } from './principal.js';

const TENANT = '0190a0a0-0000-7000-8000-000000000001';
const OTHER_TENANT = '0190a0a0-0000-7000-8000-000000000002';
const NOW = new Date('2026-01-01T12:00:00.000Z');

function member(role: Role, tenantId = TENANT): MemberPrincipal {
  return { kind: 'member', userId: 'u1', tenantId, role, sessionId: 's1', sessionVerifiedAt: null, mfaSatisfied: true, emailVerified: true };
}

function apiKey(scope: ApiKeyPrincipal['scope']): ApiKeyPrincipal {
  return { kind: 'apiKey', apiKeyId: 'k1', tenantId: TENANT, scope };
}

function staff(grant?: { tenantId?: string; scope?: StaffGrantScope; expiresAt?: string }): StaffPrincipal {
  const base = { kind: 'staff', staffId: 'st1', role: 'support', sessionId: 'ss1', policyAcknowledged: true } as const;
  if (!grant) return base;
  const tenantId = grant.tenantId ?? TENANT;
  return {
    ...base,
    tenantId,
    grant: { id: 'g1', tenantId, scope: grant.scope ?? 'read', justification: 'ticket 42', expiresAt: grant.expiresAt ?? '2026-01-01T13:00:00.000Z' },
  };
}

describe('ASVS 8.2.2, 8.4.1: staff principals act on a tenant only through a live grant for it', () => {
  const tenant = { tenantId: TENANT };

  it('a read grant for the tenant allows reading records, not writing them', () => {
    expect(isAllowed(staff({ scope: 'read' }), 'records.read', tenant, NOW)).toBe(true);
    expect(isAllowed(staff({ scope: 'read' }), 'records.write', tenant, NOW)).toBe(false);
  });

  it('a read-write grant allows both', () => {
    expect(isAllowed(staff({ scope: 'read-write' }), 'records.read', tenant, NOW)).toBe(true);
    expect(isAllowed(staff({ scope: 'read-write' }), 'records.write', tenant, NOW)).toBe(true);
  });

  it('a metadata grant reads no record', () => {
    expect(isAllowed(staff({ scope: 'metadata' }), 'records.read', tenant, NOW)).toBe(false);
  });

  it('a grant for another tenant allows nothing in this one', () => {
    expect(isAllowed(staff({ tenantId: OTHER_TENANT, scope: 'read-write' }), 'records.read', tenant, NOW)).toBe(false);
  });

  it('an expired grant allows nothing (expiry is exclusive)', () => {
    expect(isAllowed(staff({ expiresAt: '2026-01-01T11:59:59.999Z' }), 'records.read', tenant, NOW)).toBe(false);
    expect(isAllowed(staff({ expiresAt: NOW.toISOString() }), 'records.read', tenant, NOW)).toBe(false);
  });

  it('without a grant, staff may do nothing tenant-scoped, by default or on a named tenant', () => {
    expect(isAllowed(staff(), 'records.read')).toBe(false);
    expect(isAllowed(staff(), 'records.read', tenant, NOW)).toBe(false);
  });

  it('a grant gives no tenant-administration rights', () => {
    for (const action of ['members.manage', 'apiKeys.manage', 'tenant.settings', 'accessLog.read', 'securityEvents.read'] as const) {
      expect(isAllowed(staff({ scope: 'read-write' }), action, tenant, NOW)).toBe(false);
    }
  });
});

describe('member and API-key rules', () => {
  it('keep their role and scope tables', () => {
    expect(isAllowed(member('member'), 'records.write')).toBe(true);
    expect(isAllowed(member('member'), 'members.manage')).toBe(false);
    expect(isAllowed(member('admin'), 'members.manage')).toBe(true);
    expect(isAllowed(apiKey('read'), 'records.read')).toBe(true);
    expect(isAllowed(apiKey('read'), 'records.write')).toBe(false);
    expect(isAllowed(apiKey('read-write'), 'members.read')).toBe(false);
  });

  it('ASVS 8.4.1: never reach into another tenant', () => {
    expect(isAllowed(member('owner'), 'records.read', { tenantId: OTHER_TENANT })).toBe(false);
    expect(isAllowed(apiKey('read-write'), 'records.read', { tenantId: OTHER_TENANT })).toBe(false);
  });

  it('ASVS 8.2.1: only an owner changes, makes or removes an owner, with the same messages as before', () => {
    const refusal = (run: () => void) => {
      try {
        run();
      } catch (error) {
        return error instanceof AppError ? `${error.code}: ${error.message}` : String(error);
      }
      return 'allowed';
    };
    const admin = member('admin');
    expect(refusal(() => authorize(admin, 'members.changeRole', { tenantId: TENANT, current: 'owner', next: 'admin' }))).toBe(
      'FORBIDDEN: Only an owner can make or change an owner.',
    );
    expect(refusal(() => authorize(admin, 'members.changeRole', { tenantId: TENANT, current: 'member', next: 'owner' }))).toBe(
      'FORBIDDEN: Only an owner can make or change an owner.',
    );
    expect(refusal(() => authorize(admin, 'members.changeRole', { tenantId: TENANT, current: 'member', next: 'admin' }))).toBe('allowed');
    expect(refusal(() => authorize(admin, 'members.remove', { tenantId: TENANT, role: 'owner' }))).toBe('FORBIDDEN: Only an owner can remove an owner.');
    expect(refusal(() => authorize(admin, 'members.remove', { tenantId: TENANT, role: 'admin' }))).toBe('allowed');
    expect(refusal(() => authorize(admin, 'invitations.create', { tenantId: TENANT, role: 'owner' }))).toBe('FORBIDDEN: Only an owner can invite an owner.');
    expect(refusal(() => authorize(member('owner'), 'members.changeRole', { tenantId: TENANT, current: 'owner', next: 'member' }))).toBe('allowed');
    expect(refusal(() => authorize(member('owner'), 'invitations.create', { tenantId: TENANT, role: 'owner' }))).toBe('allowed');
    expect(refusal(() => authorize(member('member'), 'invitations.create', { tenantId: TENANT, role: 'member' }))).toMatch(/^FORBIDDEN/);
    expect(refusal(() => authorize(member('owner', OTHER_TENANT), 'members.remove', { tenantId: TENANT, role: 'member' }))).toMatch(/^FORBIDDEN/);
  });
});

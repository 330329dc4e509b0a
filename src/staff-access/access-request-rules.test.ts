import { describe, expect, it } from 'vitest';
import { isAppError } from '../lib/app-error.js';
import { checkBreakGlass, checkDuration, checkReason, checkTicket, isMeaningfulText } from './access-request-rules.js';
import { requestStatus } from './access-status.js';

function reasonOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    if (isAppError(error)) return error.details?.reason;
    throw error;
  }
  return undefined;
}

describe('access request rules', () => {
  it('takes reasons that read as words, in any script', () => {
    for (const text of ['Customer cannot export ticket data since Monday', 'Клиент сообщает, что экспорт не работает', 'Incident 2211: replica lag, check writes']) {
      expect(isMeaningfulText(text), text).toBe(true);
    }
  });

  it('refuses filler: one repeated character, digits, punctuation, one word over and over, too few letters', () => {
    for (const text of ['aaaaaaaaaaaaaaaaaaaaaaaa', '!!!!!!!!!!!!!!!!!!!!!!!!', '1234567890 1234567890 12', '...  ---  ???  ...  ---  ???', 'ab ab ab ab ab ab ab ab', 'asdfasdfasdfasdfasdfasdf', 'help help help help help']) {
      expect(isMeaningfulText(text), text).toBe(false);
      expect(reasonOf(() => checkReason(text)), text).toBe('not_meaningful');
    }
  });

  it('names the problem of a reason, a ticket, a duration and a break-glass justification', () => {
    expect(reasonOf(() => checkReason('too short reason'))).toBe('too_short');
    expect(reasonOf(() => checkReason('Customer asked us\u202E to look at the export'))).toBe('control_characters');
    expect(checkReason('  Customer asked us\nto look at the export job  ')).toBe('Customer asked us\nto look at the export job');
    expect(reasonOf(() => checkTicket('SUP-1\r\nBcc: x@example.test'))).toBe('control_characters');
    expect(checkTicket('   ')).toBeNull();
    expect(reasonOf(() => checkDuration(121, 120))).toBe('over_tenant_maximum');
    expect(reasonOf(() => checkDuration(481, 10_000))).toBe('over_tenant_maximum');
    expect(reasonOf(() => checkDuration(120, 120))).toBeUndefined();
    expect(reasonOf(() => checkBreakGlass(true, 'CUSTOMER_INITIATED_SUPPORT'))).toBe('justification_not_allowed');
    expect(reasonOf(() => checkBreakGlass(true, 'SECURITY_INVESTIGATION'))).toBeUndefined();
    expect(reasonOf(() => checkBreakGlass(false, 'LEGAL_REQUIREMENT'))).toBeUndefined();
  });

  it('derives expired and revoked from the grant and the clock, and lapses a pending request after 72 hours', () => {
    const now = new Date('2030-01-02T00:00:00.000Z');
    const grant = (expiresAt: string, revokedAt: string | null = null) => ({ expiresAt, revokedAt });
    const created = '2030-01-01T23:00:00.000Z';
    expect(requestStatus({ status: 'active', createdAt: created, grant: grant('2030-01-02T00:00:01.000Z') }, now)).toBe('active');
    expect(requestStatus({ status: 'active', createdAt: created, grant: grant('2030-01-02T00:00:00.000Z') }, now)).toBe('expired');
    expect(requestStatus({ status: 'active', createdAt: created, grant: grant('2030-01-03T00:00:00.000Z', '2030-01-01T23:30:00.000Z') }, now)).toBe('revoked');
    expect(requestStatus({ status: 'pending', createdAt: created, grant: null }, now)).toBe('pending');
    expect(requestStatus({ status: 'pending', createdAt: '2029-12-30T00:00:00.000Z', grant: null }, now)).toBe('expired');
    expect(requestStatus({ status: 'denied', createdAt: created, grant: null }, now)).toBe('denied');
  });
});

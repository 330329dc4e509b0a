import { describe, expect, it } from 'vitest';
import type { AppError } from '../lib/app-error.js';
import { commonPasswords } from './common-passwords.js';
import { assertAcceptablePassword } from './password-policy.js';

const reasonFor = (password: string, context = {}, min = 12): string | undefined => {
  try {
    assertAcceptablePassword(password, min, context);
    return undefined;
  } catch (error) {
    return ((error as AppError).details as { reason: string }).reason;
  }
};

describe('password policy (NIST 800-63B, ASVS 6.2)', () => {
  it('uses a common-password list of at least 10,000 entries', () => {
    expect(commonPasswords().size).toBeGreaterThanOrEqual(10_000);
  });

  it.each([
    ['short', 'too_short'],
    ['password1234', 'too_common'],
    ['PASSWORD1234', 'too_common'],
    ['qwertyuiop123', 'too_common'],
  ])('refuses %s (%s)', (password, reason) => {
    expect(reasonFor(password)).toBe(reason);
  });

  it('refuses the e-mail name and the organisation name, in any case', () => {
    expect(reasonFor('Jonathan-loves-summer', { email: 'jonathan@x.test' })).toBe('contains_context');
    expect(reasonFor('we are ACMECORP 4ever', { organization: 'Acme Corp' })).toBe('contains_context');
  });

  it('has no composition rules: a long lowercase passphrase is fine', () => {
    expect(reasonFor('correct horse battery staple')).toBeUndefined();
  });

  it('accepts 64 characters and more, up to a bound', () => {
    expect(reasonFor('x'.repeat(10) + 'y'.repeat(54) + 'z'.repeat(100))).toBeUndefined();
    expect(reasonFor('a'.repeat(1025))).toBe('too_long');
  });

  it('counts characters, not bytes', () => {
    expect(reasonFor('🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑', {}, 12)).toBe('too_short');
    expect(reasonFor('🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔒', {}, 12)).toBeUndefined();
  });
});

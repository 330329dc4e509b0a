import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { openUseCases } from '../../src/app/use-cases.js';
import type { StaffRole } from '../../src/core/principal.js';
import type { TestApp } from './test-app.js';
import { strongPassword } from './builders.js';
import { totpCode } from './totp.js';

export interface TestStaff {
  id: string;
  email: string;
  role: StaffRole;
  password: string;
  totpSecret: string;
  recoveryCodes: string[];
  /** A live staff session token (cfst_…). */
  token: string;
}

const unique = () => randomBytes(5).toString('hex');

/** Adds a staff member as `confide staff add` does (the same use case), returning the enrolment token. */
export async function addStaff(t: TestApp, role: StaffRole = 'support', email = `staff-${unique()}@ops.example`) {
  return openUseCases(t.app.services).staff.accounts.add({ email, role }, { name: 'test-operator' });
}

/** Enrols a staff member through the admin API with a fresh password and authenticator app. */
export async function enrolStaff(t: TestApp, enrolmentToken: string, password = strongPassword()) {
  const start = await t.admin({ method: 'POST', url: '/admin/v1/enrolment', payload: { token: enrolmentToken, password } });
  expect(start.statusCode, start.body).toBe(200);
  const { secret } = start.json<{ secret: string }>();
  const confirm = await t.admin({ method: 'POST', url: '/admin/v1/enrolment/confirm', payload: { token: enrolmentToken, code: await totpCode(t, secret) } });
  expect(confirm.statusCode, confirm.body).toBe(200);
  return { password, totpSecret: secret, recoveryCodes: confirm.json<{ recoveryCodes: string[] }>().recoveryCodes };
}

/**
 * Signs a staff member in, both steps. The test clock moves one TOTP step (30 s) first, because
 * each step's code works once and enrolment or an earlier sign-in used the current one.
 */
export async function signInStaff(t: TestApp, staff: Pick<TestStaff, 'email' | 'password' | 'totpSecret'>): Promise<string> {
  t.clock.advance(30);
  const first = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email: staff.email, password: staff.password } });
  expect(first.statusCode, first.body).toBe(200);
  const second = await t.admin({ method: 'POST', url: '/admin/v1/sessions/mfa', payload: { challenge: first.json().challenge, code: await totpCode(t, staff.totpSecret) } });
  expect(second.statusCode, second.body).toBe(201);
  return second.json<{ token: string }>().token;
}

/** Acknowledges the current staff policy, if one is published. */
export async function acknowledgeStaffPolicy(t: TestApp, token: string): Promise<void> {
  const me = await t.admin({ method: 'GET', url: '/admin/v1/me', token });
  expect(me.statusCode, me.body).toBe(200);
  const { version, acknowledged } = me.json<{ policy: { version: number | null; acknowledged: boolean } }>().policy;
  if (version === null || acknowledged) return;
  const ack = await t.admin({ method: 'POST', url: `/admin/v1/staff-policy/${version}/acknowledge`, token });
  expect(ack.statusCode, ack.body).toBe(204);
}

/** An enrolled, signed-in staff member who has acknowledged the current staff policy (if any). */
export async function buildStaff(t: TestApp, options: { role?: StaffRole; email?: string } = {}): Promise<TestStaff> {
  const added = await addStaff(t, options.role ?? 'support', options.email);
  const enrolled = await enrolStaff(t, added.enrolmentToken);
  const staff = { id: added.id, email: added.email, role: added.role, ...enrolled };
  const token = await signInStaff(t, staff);
  await acknowledgeStaffPolicy(t, token);
  return { ...staff, token };
}

import { expect } from 'vitest';
import type { TestApp } from '../harness/test-app.js';
import type { TestTenant } from '../harness/builders.js';
import type { TestStaff } from '../harness/staff.js';
import { bodyOf } from '../harness/smtp-sink.js';

/** Helpers shared by the staff access request suites (staff-access-requests, staff-access-modes). */

export const REASON = 'Customer reports the nightly export fails; need to inspect their collection layout';

export interface AskOptions {
  scope?: 'metadata' | 'read' | 'read-write';
  justification?: string;
  reason?: string;
  ticket?: string;
  durationMinutes?: number;
  breakGlass?: boolean;
  [field: string]: unknown;
}

/** POST /admin/v1/access-requests as `staff`, with sensible defaults. */
export function ask(t: TestApp, staff: Pick<TestStaff, 'token'>, tenantId: string, overrides: AskOptions = {}) {
  return t.admin({
    method: 'POST',
    url: '/admin/v1/access-requests',
    token: staff.token,
    payload: { tenantId, scope: 'read', justification: 'CUSTOMER_INITIATED_SUPPORT', reason: REASON, ticket: 'SUP-4411', durationMinutes: 60, ...overrides },
  });
}

/** Asks and expects 201; returns the request. */
export async function asked(t: TestApp, staff: Pick<TestStaff, 'token'>, tenantId: string, overrides: AskOptions = {}) {
  const response = await ask(t, staff, tenantId, overrides);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

export async function setStaffAccess(t: TestApp, owner: TestTenant, settings: { staffAccess?: string; staffAccessMaxMinutes?: number }): Promise<void> {
  const response = await t.request({ method: 'PATCH', url: '/v1/tenant/settings', token: owner.token, payload: settings });
  expect(response.statusCode, response.body).toBe(200);
}

/** The decoded bodies of the mails `email` has received so far. */
export async function mailBodies(t: TestApp, email: string): Promise<string[]> {
  return (await t.mailTo(email)).map((mail) => bodyOf(mail));
}

/** The tenant's stored security events of `type` (after flushing the background store). */
export async function tenantEvents(t: TestApp, owner: Pick<TestTenant, 'token'>, type: string) {
  await t.app.services.securityEvents.flush();
  const response = await t.request({ method: 'GET', url: `/v1/security-events?limit=100&type=${type}`, token: owner.token });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: Array<{ type: string; outcome: string; actor: { type: string; id: string } | null; details?: Record<string, unknown> }> }>().items;
}

/** Row counts of the request and grant tables (to show that nothing was stored). */
export async function storedCounts(t: TestApp, tenantId: string): Promise<{ requests: number; grants: number }> {
  const { db } = t.app.services;
  const requests = await db.selectFrom('access_requests').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  const grants = await db.selectFrom('access_grants').select((eb) => eb.fn.countAll().as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  return { requests: Number(requests.n), grants: Number(grants.n) };
}

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestApp } from './test-app.js';

export interface TestTenant {
  tenantId: string;
  userId: string;
  email: string;
  password: string;
  organization: string;
  token: string;
}

const unique = () => randomBytes(5).toString('hex');

/** A strong passphrase that is on no list and contains no context word. */
export function strongPassword(): string {
  return `quiet-${unique()}-harbour-${unique()}`;
}

/** Signs up a new organisation and signs its owner in. */
export async function buildTenant(t: TestApp, overrides: Partial<Pick<TestTenant, 'email' | 'password' | 'organization'>> = {}): Promise<TestTenant> {
  const organization = overrides.organization ?? `Org ${unique()}`;
  const email = overrides.email ?? `owner-${unique()}@example.test`;
  const password = overrides.password ?? strongPassword();
  const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization, email, password } });
  expect(signup.statusCode, signup.body).toBe(201);
  const session = await signIn(t, email, password);
  return { tenantId: signup.json().tenant.id, userId: signup.json().user.id, email, password, organization, token: session.token };
}

export async function signIn(t: TestApp, email: string, password: string): Promise<{ token: string; tenantId: string; userId: string }> {
  const response = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/** Creates a record and returns its body. */
export async function buildRecord(t: TestApp, tenant: TestTenant, collection = 'patients', data: Record<string, unknown> = { name: `n-${unique()}` }) {
  const response = await t.request({ method: 'POST', url: `/v1/collections/${collection}/records`, token: tenant.token, payload: data });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ id: string; collection: string; data: Record<string, unknown>; version: number }>();
}

/** The error body's code, asserting the contract's error shape along the way. */
export function errorCode(response: { statusCode: number; json(): unknown }): string {
  const body = response.json() as { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
  expect(body.error, JSON.stringify(body)).toBeDefined();
  expect(typeof body.error!.message).toBe('string');
  expect(typeof body.error!.requestId).toBe('string');
  return body.error!.code as string;
}

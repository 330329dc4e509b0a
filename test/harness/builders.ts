import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestApp } from './test-app.js';
import { bodyOf } from './smtp-sink.js';

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

/** Signs up a new organisation, signs its owner in, and verifies the owner's address with the e-mailed token. */
export async function buildTenant(t: TestApp, overrides: Partial<Pick<TestTenant, 'email' | 'password' | 'organization'>> = {}): Promise<TestTenant> {
  const organization = overrides.organization ?? `Org ${unique()}`;
  const email = overrides.email ?? `owner-${unique()}@example.test`;
  const password = overrides.password ?? strongPassword();
  const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization, email, password } });
  expect(signup.statusCode, signup.body).toBe(201);
  const session = await signIn(t, email, password);
  await verifyEmail(t, email);
  return { tenantId: signup.json().tenant.id, userId: signup.json().user.id, email, password, organization, token: session.token };
}

/** The newest e-mail-verification token sent to `email`. */
export async function verificationToken(t: TestApp, email: string): Promise<string> {
  const mails = await t.mailTo(email);
  const tokens = mails.flatMap((mail) => bodyOf(mail).match(/cfv_[A-Za-z0-9_-]{43}/g) ?? []);
  expect(tokens.length, `no verification e-mail to ${email}`).toBeGreaterThan(0);
  return tokens[tokens.length - 1]!;
}

/** Confirms `email` with the token from its newest verification e-mail. */
export async function verifyEmail(t: TestApp, email: string): Promise<void> {
  const response = await t.request({ method: 'POST', url: '/v1/email-verifications/confirm', payload: { token: await verificationToken(t, email) } });
  expect(response.statusCode, response.body).toBe(204);
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

let invited = 0;

/** Invites `email` into the inviter's tenant and returns the token from the e-mail actually delivered. */
export async function inviteToken(t: TestApp, inviter: TestTenant, email: string, role: 'owner' | 'admin' | 'member' = 'member'): Promise<string> {
  const response = await t.request({ method: 'POST', url: '/v1/invitations', token: inviter.token, payload: { email, role } });
  expect(response.statusCode, response.body).toBe(201);
  const message = (await t.mailTo(email)).pop();
  expect(message, `no invitation e-mail to ${email}`).toBeDefined();
  const token = /#token=(cfi_[A-Za-z0-9_-]+)/.exec(bodyOf(message!))?.[1];
  expect(token).toBeDefined();
  return token!;
}

/** A new person invited into the inviter's tenant with `role`, who accepted and is signed in. */
export async function buildMember(t: TestApp, inviter: TestTenant, role: 'owner' | 'admin' | 'member' = 'member'): Promise<TestTenant> {
  const email = `member-${unique()}-${invited++}@example.test`;
  const password = strongPassword();
  const token = await inviteToken(t, inviter, email, role);
  const accepted = await t.request({ method: 'POST', url: '/v1/invitations/accept', payload: { token, password } });
  expect(accepted.statusCode, accepted.body).toBe(201);
  return { ...inviter, email, password, userId: accepted.json().userId, token: accepted.json().token };
}

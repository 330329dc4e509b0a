import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';
import { bodyOf, startSmtpSink, type SmtpSink } from '../harness/smtp-sink.js';

/*
 * Issue 9's user story end to end, over real HTTPS on both listeners of a real `confide serve`
 * process, with the operator's CLI and mail on a real SMTP server on loopback: an operator adds Sam,
 * Sam enrols and signs in on the admin listener, acknowledges the staff policy, asks for read
 * access; the tenant's owner is e-mailed, approves; Sam reads; every access is in the tenant's
 * access log; the owner revokes and Sam's next request gets 403 and no customer bytes.
 */

const MARKER = `marker-${randomBytes(6).toString('hex')}`;
const PASSWORD = 'quiet harbour lantern 2026';

/** A code an authenticator app shows: for the next 30-second step, which the server accepts (±1 step) and no earlier use has consumed. */
const nextCode = (secret: string) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });

describe.each(DIALECTS)('staff access, end to end over HTTPS (%s)', (dialect) => {
  let root: string;
  let smtp: SmtpSink;
  let server: ServerProcess;
  let env: Record<string, string>;
  const pub = (method: string, path: string, body?: unknown, token?: string) => httpsJson(server.port, method, path, body, token);
  const adm = (method: string, path: string, body?: unknown, token?: string) => httpsJson(server.adminPort, method, path, body, token);

  /** Messages the SMTP sink received for `to` whose subject matches, waiting for the mail worker. */
  async function mailTo(to: string, subject: RegExp): Promise<string[]> {
    for (let attempt = 0; attempt < 80; attempt++) {
      const bodies = smtp.received.filter((mail) => mail.to.includes(to) && subject.test(mail.raw)).map(bodyOf);
      if (bodies.length > 0) return bodies;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`no mail to ${to} matching ${subject}`);
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-staff-flow-'));
    smtp = await startSmtpSink();
    env = {
      CONFIDE_DATA_DIR: join(root, 'data'),
      CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'),
      CONFIDE_LOG_LEVEL: 'warn',
      CONFIDE_SMTP_URL: `smtp://127.0.0.1:${smtp.port}?tls=off`,
      CONFIDE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`,
      ...(dialect === 'postgres' ? { CONFIDE_DATABASE_URL: (await freshPostgresSchema()).url } : {}),
    };
    server = await startServerProcess(env, await freePort());
  });

  afterAll(async () => {
    await killHard(server);
    await smtp.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** A tenant whose owner verified the address from the e-mailed link and holds one record with MARKER in it. */
  async function tenantWithRecord() {
    const email = `owner-${randomBytes(4).toString('hex')}@clinic.example`;
    const signup = await pub('POST', '/v1/signup', { organization: 'Harbour Clinic', email, password: PASSWORD });
    expect(signup.status, JSON.stringify(signup.body)).toBe(201);
    const [verification] = await mailTo(email, /Subject: .*(verify|confirm)/i);
    const token = /cfv_[A-Za-z0-9_-]{43}/.exec(verification!)![0];
    expect((await pub('POST', '/v1/email-verifications/confirm', { token })).status).toBe(204);
    const session = await pub('POST', '/v1/sessions', { email, password: PASSWORD });
    const record = await pub('POST', '/v1/collections/patients/records', { name: MARKER }, session.body.token);
    expect(record.status).toBe(201);
    return { email, tenantId: signup.body.tenant.id as string, token: session.body.token as string, recordId: record.body.id as string };
  }

  /** `confide staff add`, then enrolment and a two-step sign-in on the admin listener. */
  async function enrolledStaff(role: 'support' | 'security-admin') {
    const added = runCli(['staff', 'add', '--email', `${role}-${randomBytes(4).toString('hex')}@ops.example`, '--role', role, '--json'], env);
    expect(added.status, added.stderr).toBe(0);
    const { email, enrolmentToken } = JSON.parse(added.stdout) as { email: string; enrolmentToken: string };
    const start = await adm('POST', '/admin/v1/enrolment', { token: enrolmentToken, password: PASSWORD });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const secret = start.body.secret as string;
    const confirm = await adm('POST', '/admin/v1/enrolment/confirm', { token: enrolmentToken, code: await generate({ secret }) });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    const first = await adm('POST', '/admin/v1/sessions', { email, password: PASSWORD });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ mfaRequired: true });
    const second = await adm('POST', '/admin/v1/sessions/mfa', { challenge: first.body.challenge, code: await nextCode(secret) });
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    return { email, token: second.body.token as string };
  }

  it('an owner approves Sam’s request by e-mail notice, Sam reads under the grant, every access is logged, and a revoke stops the very next request', async () => {
    const owner = await tenantWithRecord();
    const securityAdmin = await enrolledStaff('security-admin');
    const sam = await enrolledStaff('support');

    // The internal staff policy: until Sam acknowledges it, Sam can do nothing else.
    const published = await adm('POST', '/admin/v1/staff-policy', { title: 'Handling customer data', body: 'Only under a grant, only for the stated reason.' }, securityAdmin.token);
    expect(published.status).toBe(201);
    const held = await adm('POST', '/admin/v1/access-requests', { tenantId: owner.tenantId, scope: 'read', justification: 'CUSTOMER_INITIATED_SUPPORT', reason: 'Customer reports a wrong date of birth on a patient', ticket: 'SUP-1042', durationMinutes: 60 }, sam.token);
    expect(held.status).toBe(403);
    expect(held.body.error.code).toBe('POLICY_ACKNOWLEDGEMENT_REQUIRED');
    expect((await adm('POST', `/admin/v1/staff-policy/${published.body.version}/acknowledge`, undefined, sam.token)).status).toBe(204);

    const asked = await adm('POST', '/admin/v1/access-requests', { tenantId: owner.tenantId, scope: 'read', justification: 'CUSTOMER_INITIATED_SUPPORT', reason: 'Customer reports a wrong date of birth on a patient', ticket: 'SUP-1042', durationMinutes: 60 }, sam.token);
    expect(asked.status, JSON.stringify(asked.body)).toBe(201);
    expect(asked.body).toMatchObject({ status: 'pending', scope: 'read', breakGlass: false });
    const [notice] = await mailTo(owner.email, /Subject: .*asks for access/);
    expect(notice).toContain(sam.email);
    expect(notice).toContain('SUP-1042');

    // Before approval: nothing.
    const early = await adm('GET', `/admin/v1/tenants/${owner.tenantId}/collections/patients/records/${owner.recordId}`, undefined, sam.token);
    expect(early.status).toBe(403);
    expect(early.body.error.code).toBe('GRANT_REQUIRED');
    expect(JSON.stringify(early.body)).not.toContain(MARKER);

    const pending = await pub('GET', '/v1/access-requests?status=pending', undefined, owner.token);
    expect(pending.body.items.map((item: { id: string }) => item.id)).toEqual([asked.body.id]);
    const approved = await pub('POST', `/v1/access-requests/${asked.body.id}/approve`, undefined, owner.token);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.status).toBe('active');
    const grantId = approved.body.grant.id as string;
    await mailTo(sam.email, /Subject: .*approved/i);

    const listed = await adm('GET', `/admin/v1/tenants/${owner.tenantId}/collections/patients/records`, undefined, sam.token);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.items.map((item: { data: { name: string } }) => item.data.name)).toEqual([MARKER]);
    const read = await adm('GET', `/admin/v1/tenants/${owner.tenantId}/collections/patients/records/${owner.recordId}`, undefined, sam.token);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual({ name: MARKER });

    const log = await pub('GET', '/v1/access-log?actorType=staff', undefined, owner.token);
    expect(log.body.items).toHaveLength(2);
    for (const entry of log.body.items) expect(entry).toMatchObject({ actor: { type: 'staff' }, grantId, justification: 'CUSTOMER_INITIATED_SUPPORT' });
    expect(log.body.items.map((entry: { action: string }) => entry.action).sort()).toEqual(['list', 'read']);
    expect((await pub('GET', '/v1/access-log/verify', undefined, owner.token)).body.ok).toBe(true);

    const revoked = await pub('POST', `/v1/access-grants/${grantId}/revoke`, undefined, owner.token);
    expect(revoked.status).toBe(200);
    const after = await adm('GET', `/admin/v1/tenants/${owner.tenantId}/collections/patients/records/${owner.recordId}`, undefined, sam.token);
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('GRANT_REQUIRED');
    expect(JSON.stringify(after.body)).not.toContain(MARKER);
    // The refused attempt is in the log of security events, not the access log (nothing was accessed).
    expect((await pub('GET', '/v1/access-log?actorType=staff', undefined, owner.token)).body.items).toHaveLength(2);
  });

  it('keeps the realms apart over the wire: a staff token is refused by the public listener, an owner’s token by the admin listener', async () => {
    const owner = await tenantWithRecord();
    const sam = await enrolledStaff('support');
    expect((await pub('GET', '/v1/me', undefined, sam.token)).status).toBe(401);
    expect((await adm('GET', '/admin/v1/me', undefined, owner.token)).status).toBe(401);
    expect((await pub('GET', '/admin/v1/me', undefined, sam.token)).status).toBe(404);
  });
});

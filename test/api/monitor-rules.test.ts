import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, signIn, type TestTenant } from '../harness/builders.js';
import { alertsOpenedSince, freshWindow, recordEvent } from '../harness/monitoring.js';
import { MONITOR_RULES } from '../../src/monitoring/monitor-rules.js';
import { Monitor } from '../../src/monitoring/monitor.js';
import { transitionAlert } from '../../src/monitoring/alert-store.js';

const unique = () => randomBytes(4).toString('hex');
const ruleNamed = (name: string) => MONITOR_RULES.find((rule) => rule.name === name)!;
/** A certificate a node serves, expiring at `expiresAt`, with a fingerprint of its own (as each real certificate has). */
const servedCertificate = (expiresAt: Date) => ({ fingerprint: randomBytes(32).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:'), expiresAt, listener: 'public, admin' });

describe('the rule list and docs/monitoring.md', () => {
  it('documents every rule in the table, and only those', () => {
    const doc = readFileSync(new URL('../../docs/monitoring.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-z-]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(MONITOR_RULES.map((rule) => rule.name).sort());
  });
});

describe.each(DIALECTS)('monitor rules on %s (ASVS 16.3, alert on abnormal volumes)', (dialect) => {
  let t: TestApp;
  let tenant: TestTenant;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tenant = await buildTenant(t);
  });
  afterAll(async () => t?.close());

  /** Runs the app's own monitor now, as the worker does once a minute. */
  const evaluate = () => t.app.monitor.runOnce(t.clock.now());
  const signInFails = async (email: string, ip: string) => {
    const response = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password: 'not-the-password-1' }, remoteAddress: ip });
    expect(response.statusCode, response.body).toBe(401);
  };
  const signInWorks = async (email: string, password: string, ip: string) => {
    const response = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password }, remoteAddress: ip });
    expect(response.statusCode, response.body).toBe(201);
  };
  const only = async (since: Date) => (await alertsOpenedSince(t, since)).map((alert) => [alert.rule, alert.subject]);

  it('brute-force-account: 10 failed passwords for one account in 15 minutes (real sign-ins)', async () => {
    const since = freshWindow(t);
    await t.app.services.securityEvents.flush();
    for (let i = 0; i < 10; i += 1) {
      await signInFails(tenant.email, '198.51.100.10');
      t.clock.advance(60);
    }
    await evaluate();
    expect(await only(since)).toEqual([['brute-force-account', `member:${tenant.userId}`]]);
  });

  it('brute-force-account and credential-stuffing: not for an office of people mistyping behind one address', async () => {
    const people = await Promise.all([0, 1, 2, 3, 4].map(async () => buildTenant(t)));
    const since = freshWindow(t);
    for (const person of people) {
      await signInFails(person.email, '198.51.100.20');
      await signInFails(person.email, '198.51.100.20');
      await signInWorks(person.email, person.password, '198.51.100.20');
      t.clock.advance(150);
    }
    await evaluate();
    expect(await only(since)).toEqual([]);
  });

  it('credential-stuffing: failures over 20 accounts from one IPv6 /64, each from its own address (real sign-ins)', async () => {
    const since = freshWindow(t);
    for (let i = 0; i < 20; i += 1) {
      await signInFails(`victim-${unique()}@example.test`, `2001:db8:7:9:${(i + 1).toString(16)}::1`);
      t.clock.advance(20);
    }
    await evaluate();
    expect(await only(since)).toEqual([['credential-stuffing', '2001:db8:7:9::/64']]);
  });

  it('credential-stuffing: not for 20 accounts failing once each from 20 different networks', async () => {
    const since = freshWindow(t);
    for (let i = 0; i < 20; i += 1) {
      await signInFails(`typo-${unique()}@example.test`, `203.0.113.${i + 1}`);
      t.clock.advance(20);
    }
    await evaluate();
    expect(await only(since)).toEqual([]);
  });

  it('mfa-failures: 5 failed or replayed second-factor codes for one account; not 4 users failing once', async () => {
    const since = freshWindow(t);
    const userId = randomUUID();
    for (const type of ['signin.mfa', 'signin.mfa', 'mfa.totp.replay', 'signin.mfa', 'staff.signin.mfa'] as const) {
      const outcome = type === 'mfa.totp.replay' ? 'refused' : 'failure';
      await recordEvent(t, { type, outcome, userId, ip: '198.51.100.30' });
      t.clock.advance(60);
    }
    for (let i = 0; i < 4; i += 1) {
      const other = randomUUID();
      await recordEvent(t, { type: 'signin.mfa', outcome: 'failure', userId: other, ip: '198.51.100.31' });
      await recordEvent(t, { type: 'signin.mfa', outcome: 'success', userId: other, ip: '198.51.100.31' });
      t.clock.advance(60);
    }
    await evaluate();
    expect(await only(since)).toEqual([['mfa-failures', `member:${userId}`]]);
  });

  it('staff-grant-refused: any refusal; staff-bulk-reading: 200 reads an hour, not 50', async () => {
    const since = freshWindow(t);
    const [prober, bulk, normal] = [randomUUID(), randomUUID(), randomUUID()];
    const staff = (id: string) => ({ type: 'staff' as const, id });
    await recordEvent(t, { type: 'staff.grant.refused', outcome: 'refused', tenantId: tenant.tenantId, actor: staff(prober), ip: '10.0.0.5', details: { why: 'none' } });
    for (let i = 0; i < 200; i += 1) {
      t.app.services.securityEvents.record({ type: 'staff.grant.used', outcome: 'success', tenantId: tenant.tenantId, actor: staff(bulk), ip: '10.0.0.6' });
      if (i < 50) t.app.services.securityEvents.record({ type: 'staff.grant.used', outcome: 'success', tenantId: tenant.tenantId, actor: staff(normal), ip: '10.0.0.7' });
    }
    await t.app.services.securityEvents.flush();
    await evaluate();
    expect((await only(since)).sort()).toEqual([
      ['staff-bulk-reading', `staff:${bulk}`],
      ['staff-grant-refused', `staff:${prober}`],
    ]);
  });

  it('break-glass-used: an approval by staff; not a tenant owner’s approval or notify mode', async () => {
    const since = freshWindow(t);
    const other = await buildTenant(t);
    await recordEvent(t, { type: 'staff.access.approved', outcome: 'success', tenantId: other.tenantId, actor: { type: 'member', id: other.userId }, details: { requestId: randomUUID() } });
    await recordEvent(t, { type: 'staff.access.approved', outcome: 'success', tenantId: other.tenantId, actor: { type: 'system', id: 'notify' } });
    await evaluate();
    expect(await only(since)).toEqual([]);
    await recordEvent(t, { type: 'staff.access.approved', outcome: 'success', tenantId: tenant.tenantId, actor: { type: 'staff', id: randomUUID() }, details: { breakGlass: true } });
    await evaluate();
    expect(await only(since)).toEqual([['break-glass-used', `tenant:${tenant.tenantId}`]]);
  });

  it('access-log-unavailable: a real 503 AUDIT_UNAVAILABLE is recorded at the error edge and alerts; served reads do not', async () => {
    const since = freshWindow(t);
    tenant.token = (await signIn(t, tenant.email, tenant.password)).token; // the old session has expired
    await buildRecord(t, tenant);
    expect((await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: tenant.token })).statusCode).toBe(200);
    await t.app.services.securityEvents.flush();
    await evaluate();
    expect(await only(since)).toEqual([]);

    const { db } = t.app.services;
    if (dialect === 'sqlite') await sql`CREATE TRIGGER monitor_audit_fault BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'injected'); END`.execute(db);
    else {
      await sql`CREATE FUNCTION monitor_audit_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql`.execute(db);
      await sql`CREATE TRIGGER monitor_audit_fault BEFORE INSERT ON access_log FOR EACH ROW EXECUTE FUNCTION monitor_audit_fault()`.execute(db);
    }
    try {
      const refused = await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: tenant.token });
      expect(refused.statusCode).toBe(503);
    } finally {
      if (dialect === 'sqlite') await sql`DROP TRIGGER monitor_audit_fault`.execute(db);
      else {
        await sql`DROP TRIGGER monitor_audit_fault ON access_log`.execute(db);
        await sql`DROP FUNCTION monitor_audit_fault()`.execute(db);
      }
    }
    await t.app.services.securityEvents.flush();
    const stored = await db.selectFrom('security_events').select(['tenant_id', 'source_index']).where('type', '=', 'audit.unavailable').where('at', '>=', since.toISOString()).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.tenant_id).toBe(tenant.tenantId);
    await evaluate();
    expect(await only(since)).toEqual([['access-log-unavailable', 'access log']]);
  });

  it('access-log-verification-failed: the hourly self-check finds a changed entry; intact chains raise nothing', async () => {
    const since = freshWindow(t);
    tenant.token = (await signIn(t, tenant.email, tenant.password)).token;
    await buildRecord(t, tenant);
    await evaluate();
    expect(await only(since)).toEqual([]);

    const { db } = t.app.services;
    const entry = await db.selectFrom('access_log').select(['seq', 'hash']).where('tenant_id', '=', tenant.tenantId).orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await db.updateTable('access_log').set({ hash: 'f'.repeat(entry.hash.length) }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', entry.seq).execute();
    try {
      t.clock.advance(3600); // the next hourly pass
      const passSince = t.clock.now();
      await evaluate();
      expect(await only(since)).toEqual([['access-log-verification-failed', `tenant:${tenant.tenantId}`]]);
      const failed = await db.selectFrom('security_events').select(['tenant_id', 'actor_type']).where('type', '=', 'audit.verification.failed').where('at', '>=', passSince.toISOString()).execute();
      expect(failed).toEqual([{ tenant_id: tenant.tenantId, actor_type: 'system' }]);
    } finally {
      await db.updateTable('access_log').set({ hash: entry.hash }).where('tenant_id', '=', tenant.tenantId).where('seq', '=', entry.seq).execute();
    }
  });

  it('certificate-expiring: within 21 days; not for the app’s fresh certificate', async () => {
    const since = freshWindow(t);
    await evaluate(); // the app's own monitor, with the expiry of the certificate its listeners serve (90 days)
    expect(await only(since)).toEqual([]);
    const certificate = servedCertificate(new Date(t.clock.now().getTime() + 20 * 86_400_000 + 3_600_000)); // an hour over: the test clock ticks on
    const expiring = new Monitor(t.app.services, {
      rules: [ruleNamed('certificate-expiring')],
      certificate,
      holder: t.app.monitor.holder, // the same node: it holds the lease
      onError: (error) => {
        throw error;
      },
    });
    await expiring.runOnce(t.clock.now());
    const [alert] = await alertsOpenedSince(t, since);
    expect(alert).toMatchObject({ rule: 'certificate-expiring', subject: `tls certificate ${certificate.fingerprint.slice(0, 23)}`, severity: 'high', details: { daysLeft: 20 } });
  });

  const DAY_MS = 86_400_000;
  /** A certificate expiry `days` (and an hour: the test clock ticks on, `daysLeft` stays whole) from now. */
  const expiryIn = (days: number) => new Date(t.clock.now().getTime() + days * DAY_MS + 3_600_000);
  /** A monitor of the certificate rule alone, on this node (it holds the lease), for a certificate expiring at `expiresAt`. */
  const certificateMonitor = (expiresAt: Date) =>
    new Monitor(t.app.services, {
      rules: [ruleNamed('certificate-expiring')],
      certificate: servedCertificate(expiresAt),
      holder: t.app.monitor.holder,
      onError: (error) => {
        throw error;
      },
    });
  const resolveByHand = async (id: string) => {
    const resolved = await transitionAlert(t.app.services, id, 'resolved', { type: 'staff', id: randomUUID() }, t.clock.now());
    expect(resolved).toMatchObject({ id, state: 'resolved' });
  };
  const certificateAlerts = async (since: Date) => (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'certificate-expiring');

  it('certificate-expiring resolved by hand: stays resolved for the same certificate, raised again within 7 days and once expired', async () => {
    const since = freshWindow(t);
    await evaluate(); // earlier tests' certificate alerts resolve themselves (the app's own certificate is fresh)
    const expiring = certificateMonitor(expiryIn(20));
    await expiring.runOnce(t.clock.now());
    const [first] = await certificateAlerts(since);
    expect(first).toMatchObject({ state: 'open', details: { daysLeft: 20 } });
    await resolveByHand(first!.id);

    for (const step of [60_000, 3_600_000, DAY_MS, 11 * DAY_MS]) {
      t.clock.advance(step / 1000); // to just under 8 days left
      expect(await expiring.runOnce(t.clock.now())).toMatchObject({ held: true, opened: 0, refreshed: 0 });
    }
    expect((await certificateAlerts(since)).map((alert) => alert.state)).toEqual(['resolved']);

    t.clock.advance(1.5 * 86_400); // 6.5 days left: within the urgent threshold
    expect(await expiring.runOnce(t.clock.now())).toMatchObject({ opened: 1 });
    expect(await expiring.runOnce(t.clock.now())).toMatchObject({ opened: 0, refreshed: 1 });
    const [urgent] = await certificateAlerts(since);
    expect(urgent).toMatchObject({ state: 'open', details: { daysLeft: 6 } });
    await resolveByHand(urgent!.id);
    t.clock.advance(3 * 86_400);
    expect(await expiring.runOnce(t.clock.now())).toMatchObject({ opened: 0, refreshed: 0 });

    t.clock.advance(4 * 86_400); // expired
    expect(await expiring.runOnce(t.clock.now())).toMatchObject({ opened: 1 });
    const alerts = await certificateAlerts(since);
    expect(alerts.map((alert) => alert.state)).toEqual(['open', 'resolved', 'resolved']);
    expect(alerts[0]!.summary).toContain('expired');
  });

  it('certificate-expiring resolved by hand: another certificate, itself expiring, is a new alert', async () => {
    const since = freshWindow(t);
    await evaluate();
    const first = certificateMonitor(expiryIn(15));
    await first.runOnce(t.clock.now());
    const [alert] = await certificateAlerts(since);
    await resolveByHand(alert!.id);
    t.clock.advance(60);
    expect(await first.runOnce(t.clock.now())).toMatchObject({ opened: 0, refreshed: 0 });
    const replaced = certificateMonitor(expiryIn(14)); // a restart with another certificate
    expect(await replaced.runOnce(t.clock.now())).toMatchObject({ opened: 1 });
    expect((await certificateAlerts(since)).map((one) => [one.state, one.details?.daysLeft])).toEqual([
      ['open', 14],
      ['resolved', 15],
    ]);
  });

  it('sustained-rate-limiting: one source limited in 10 of 15 minutes; not a 5-minute burst', async () => {
    const since = freshWindow(t);
    for (let minute = 0; minute < 12; minute += 1) {
      await recordEvent(t, { type: 'request.rateLimited', outcome: 'refused', ip: '192.0.2.50', details: { scope: 'ip' } });
      if (minute < 5) await recordEvent(t, { type: 'request.rateLimited', outcome: 'refused', ip: '192.0.2.60', details: { scope: 'ip' } });
      t.clock.advance(60);
    }
    await evaluate();
    expect(await only(since)).toEqual([['sustained-rate-limiting', '192.0.2.50']]);
  });

  it('source_index: every event with an address carries the blind index of its source (IPv4 address, IPv6 /64)', async () => {
    const since = freshWindow(t);
    for (const ip of ['2001:db8:1:2:aaaa::1', '2001:db8:1:2:bbbb::2', '2001:db8:1:3::1', '192.0.2.1', '::ffff:192.0.2.1']) {
      await recordEvent(t, { type: 'signin.password', outcome: 'failure', ip });
    }
    await recordEvent(t, { type: 'staff.access.approved', outcome: 'success', actor: { type: 'system', id: 'notify' } });
    const rows = await t.app.services.db.selectFrom('security_events').select('source_index').where('at', '>=', since.toISOString()).orderBy('id').execute();
    const [a, b, c, d, e, none] = rows.map((row) => row.source_index);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect([a === b, a === c, d === e, none]).toEqual([true, false, true, null]);
    expect(JSON.stringify(rows)).not.toContain('2001:db8');
  });

  it('leaves no password or address in the alerts table in clear', async () => {
    const { rows } = await sql<Record<string, unknown>>`select * from alerts`.execute(t.app.services.db);
    expect(rows.length).toBeGreaterThan(0);
    const text = JSON.stringify(rows);
    // The sources and account named in alerts, the account's address and password, and the password the sign-ins tried.
    for (const clear of ['2001:db8', '192.0.2.50', tenant.userId, tenant.email, tenant.password, 'not-the-password-1']) expect(text).not.toContain(clear);
  });
});

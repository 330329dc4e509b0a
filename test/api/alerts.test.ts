import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { errorCode } from '../harness/builders.js';
import { buildStaff, signInStaff, type TestStaff } from '../harness/staff.js';
import { alertsOpenedSince, freshWindow, recordEvent } from '../harness/monitoring.js';
import { createApp } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ENCRYPTED_FIELDS } from '../../src/keys/encrypted-fields.js';
import type { AlertNotice } from '../../src/monitoring/alert-notifier.js';
import { raiseAlert, type AlertView } from '../../src/monitoring/alert-store.js';
import { Monitor } from '../../src/monitoring/monitor.js';
import { MONITOR_RULES } from '../../src/monitoring/monitor-rules.js';

const MINUTE = 60;

describe.each(DIALECTS)('alerts on %s', (dialect) => {
  let t: TestApp;
  let securityAdmin: TestStaff;
  let support: TestStaff;
  let notices: AlertNotice[];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    securityAdmin = await buildStaff(t, { role: 'security-admin' });
    support = await buildStaff(t, { role: 'support' });
  });
  afterAll(async () => t?.close());
  afterEach(() => vi.restoreAllMocks());

  /** Starts a test: earlier incidents are past every window and resolved; the notifier's calls are recorded. */
  const begin = async () => {
    const since = freshWindow(t);
    await t.app.monitor.runOnce(t.clock.now());
    // Staff sessions do not outlive two days.
    securityAdmin.token = await signInStaff(t, securityAdmin);
    support.token = await signInStaff(t, support);
    notices = [];
    const notifier = t.app.services.alertNotifier;
    const notify = notifier.notify.bind(notifier);
    vi.spyOn(notifier, 'notify').mockImplementation(async (trx, notice) => {
      notices.push(notice);
      return notify(trx, notice);
    });
    return since;
  };
  /** An incident: a staff member refused tenant data (rule staff-grant-refused, subject staff:<id>). */
  const refusal = async (staffId: string) =>
    recordEvent(t, { type: 'staff.grant.refused', outcome: 'refused', actor: { type: 'staff', id: staffId }, ip: '10.1.2.3', details: { why: 'none' } });
  const evaluate = () => t.app.monitor.runOnce(t.clock.now());
  /** The alert.* security events about `alertId`, oldest first, as [type, actor type, actor id]. */
  const alertEvents = async (alertId: string) => {
    await t.app.services.securityEvents.flush();
    const { db, keyRing } = t.app.services;
    const rows = await db.selectFrom('security_events').select(['id', 'type', 'actor_type', 'actor_id', 'details_enc']).where('type', 'like', 'alert.%').orderBy('id').execute();
    const cipher = keyRing.systemCipher();
    return rows
      .filter((row) => (JSON.parse(cipher.decrypt(row.details_enc!, ENCRYPTED_FIELDS.securityEventsDetails.location(row))) as { alertId: string }).alertId === alertId)
      .map((row) => [row.type, row.actor_type, row.actor_id]);
  };

  it('one alert per incident: the condition on 5 evaluations is 1 alert with 5 occurrences, 1 notice, 1 alert.opened', async () => {
    const since = await begin();
    const staffId = randomUUID();
    await refusal(staffId);
    for (let i = 0; i < 5; i += 1) {
      await evaluate();
      t.clock.advance(MINUTE);
    }
    const alerts = await alertsOpenedSince(t, since);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'staff-grant-refused', subject: `staff:${staffId}`, state: 'open', severity: 'medium', occurrences: 5 });
    expect(notices.map((notice) => [notice.id, notice.transition])).toEqual([[alerts[0]!.id, 'opened']]);
    expect(await alertEvents(alerts[0]!.id)).toEqual([['alert.opened', 'system', 'monitor']]);
  });

  it('resolves itself once the condition has been clear for 30 minutes, not before; a new incident is a new alert', async () => {
    const since = await begin();
    const staffId = randomUUID();
    await refusal(staffId); // counts for the rule's 1-hour window
    await evaluate();
    t.clock.advance(59 * MINUTE);
    await evaluate(); // still in the window: last seen now
    t.clock.advance(29 * MINUTE);
    await evaluate(); // clear for 28 minutes
    let [alert] = await alertsOpenedSince(t, since);
    expect(alert).toMatchObject({ state: 'open', occurrences: 2 });
    t.clock.advance(2 * MINUTE);
    const run = await evaluate();
    expect(run.resolved).toBe(1);
    [alert] = await alertsOpenedSince(t, since);
    expect(alert).toMatchObject({ state: 'resolved', resolvedBy: 'system' });
    expect(notices.map((notice) => notice.transition)).toEqual(['opened', 'resolved']);
    expect(notices[1]).toMatchObject({ id: alert!.id, state: 'resolved', by: 'system' });
    expect(await alertEvents(alert!.id)).toEqual([
      ['alert.opened', 'system', 'monitor'],
      ['alert.resolved', 'system', 'monitor'],
    ]);

    await refusal(staffId);
    await evaluate();
    const alerts = await alertsOpenedSince(t, since);
    expect(alerts.map((one) => [one.subject, one.state])).toEqual([
      [`staff:${staffId}`, 'open'],
      [`staff:${staffId}`, 'resolved'],
    ]);
  });

  it('a security-admin lists, acknowledges and resolves; each transition once, notified and recorded with the staff actor', async () => {
    await begin();
    const staffId = randomUUID();
    await refusal(staffId);
    await evaluate();
    const list = await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=open', token: securityAdmin.token });
    expect(list.statusCode, list.body).toBe(200);
    const alert = list.json<{ items: AlertView[] }>().items.find((item) => item.subject === `staff:${staffId}`)!;
    expect(alert).toMatchObject({ rule: 'staff-grant-refused', state: 'open', occurrences: 1 });
    expect(alert.summary).toContain('refused');

    const ack = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert.id}/acknowledge`, token: securityAdmin.token });
    expect(ack.statusCode, ack.body).toBe(200);
    expect(ack.json()).toMatchObject({ id: alert.id, state: 'acknowledged', acknowledgedBy: securityAdmin.id });
    const again = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert.id}/acknowledge`, token: securityAdmin.token });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details).toEqual({ reason: 'alert_not_open' });

    await evaluate(); // the condition still holds: counted on the acknowledged alert, not a new one
    const acknowledged = (await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=acknowledged', token: securityAdmin.token })).json<{ items: AlertView[] }>();
    expect(acknowledged.items.filter((item) => item.subject === `staff:${staffId}`).map((item) => [item.id, item.occurrences])).toEqual([[alert.id, 2]]);

    const resolved = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert.id}/resolve`, token: securityAdmin.token });
    expect(resolved.statusCode, resolved.body).toBe(200);
    expect(resolved.json()).toMatchObject({ state: 'resolved', resolvedBy: securityAdmin.id });
    const twice = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert.id}/resolve`, token: securityAdmin.token });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.details).toEqual({ reason: 'alert_resolved' });
    expect((await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert.id}/acknowledge`, token: securityAdmin.token })).statusCode).toBe(409);

    expect(notices.filter((notice) => notice.id === alert.id).map((notice) => [notice.transition, notice.by ?? null])).toEqual([
      ['opened', null],
      ['acknowledged', securityAdmin.id],
      ['resolved', securityAdmin.id],
    ]);
    expect(await alertEvents(alert.id)).toEqual([
      ['alert.opened', 'system', 'monitor'],
      ['alert.acknowledged', 'staff', securityAdmin.id],
      ['alert.resolved', 'staff', securityAdmin.id],
    ]);
  });

  /** A security-admin resolves `id` through the admin API (signing in afresh: sessions go idle after 15 minutes). */
  const resolveByHand = async (id: string) => {
    securityAdmin.token = await signInStaff(t, securityAdmin);
    const resolved = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${id}/resolve`, token: securityAdmin.token });
    expect(resolved.statusCode, resolved.body).toBe(200);
  };

  it('resolved by hand: the events it was raised from never re-open it, however long they stay in the window', async () => {
    const since = await begin();
    const staffId = randomUUID();
    await refusal(staffId);
    await evaluate();
    const [alert] = await alertsOpenedSince(t, since);
    expect(alert).toMatchObject({ rule: 'staff-grant-refused', subject: `staff:${staffId}`, state: 'open' });
    await resolveByHand(alert!.id);
    // The refusal stays in the rule's 1-hour window for another hour; the monitor runs every minute.
    for (let minute = 0; minute < 65; minute += 1) {
      t.clock.advance(MINUTE);
      await evaluate();
    }
    const alerts = await alertsOpenedSince(t, since);
    expect(alerts.map((one) => [one.id, one.state, one.resolvedBy])).toEqual([[alert!.id, 'resolved', securityAdmin.id]]);
    expect(notices.filter((notice) => notice.subject === `staff:${staffId}`).map((notice) => notice.transition)).toEqual(['opened', 'resolved']);
  });

  it('resolved by hand in the same instant as its evidence: still not re-opened by it', async () => {
    const since = await begin();
    const staffId = randomUUID();
    securityAdmin.token = await signInStaff(t, securityAdmin);
    await refusal(staffId);
    await evaluate();
    const [alert] = await alertsOpenedSince(t, since);
    const resolved = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${alert!.id}/resolve`, token: securityAdmin.token });
    expect(resolved.statusCode, resolved.body).toBe(200);
    t.clock.advance(MINUTE);
    const run = await evaluate();
    expect(run).toMatchObject({ opened: 0, refreshed: 0 });
    expect((await alertsOpenedSince(t, since)).map((one) => one.state)).toEqual(['resolved']);
  });

  it('resolved by hand, then a new incident: new events after the resolution open one new alert', async () => {
    const since = await begin();
    const staffId = randomUUID();
    await refusal(staffId);
    await evaluate();
    const [first] = await alertsOpenedSince(t, since);
    await resolveByHand(first!.id);
    t.clock.advance(5 * MINUTE);
    await evaluate();
    expect(await alertsOpenedSince(t, since)).toHaveLength(1);

    await refusal(staffId); // a new refusal, after the resolution
    await evaluate();
    t.clock.advance(MINUTE);
    await evaluate(); // counted on the new alert, not a third
    const alerts = await alertsOpenedSince(t, since);
    expect(alerts.map((one) => [one.state, one.occurrences])).toEqual([
      ['open', 2],
      ['resolved', 1],
    ]);
    expect(alerts[0]!.details).toMatchObject({ count: 1 }); // the new incident's own evidence
    expect(notices.filter((notice) => notice.subject === `staff:${staffId}`).map((notice) => [notice.id, notice.transition])).toEqual([
      [first!.id, 'opened'],
      [first!.id, 'resolved'],
      [alerts[0]!.id, 'opened'],
    ]);
  });

  it('resolved by hand, a threshold rule: old events do not make up a new incident with a few new ones', async () => {
    const since = await begin();
    const userId = randomUUID();
    // mfa-failures: 5 failed second-factor steps for one account in 15 minutes.
    const failures = async (n: number) => {
      for (let i = 0; i < n; i += 1) {
        await recordEvent(t, { type: 'signin.mfa', outcome: 'failure', actor: { type: 'member', id: userId }, ip: '10.9.8.7' });
        t.clock.advance(10);
      }
    };
    const mine = async () => (await alertsOpenedSince(t, since)).filter((one) => one.subject === `member:${userId}`);
    await failures(5);
    await evaluate();
    const [first] = await mine();
    expect(first).toMatchObject({ rule: 'mfa-failures', state: 'open', details: { count: 5 } });
    await resolveByHand(first!.id);

    await failures(4); // 9 in the window, 4 of them after the resolution
    await evaluate();
    expect((await mine()).map((one) => one.state)).toEqual(['resolved']);

    await failures(1); // 5 after the resolution: a new incident
    await evaluate();
    const alerts = await mine();
    expect(alerts.map((one) => one.state)).toEqual(['open', 'resolved']);
    expect(alerts[0]).toMatchObject({ rule: 'mfa-failures', details: { count: 5 } });
  });

  it('only security-admins: 403 for support, 401 without a session, 404 for an unknown alert', async () => {
    await begin();
    for (const request of [
      { method: 'GET' as const, url: '/admin/v1/alerts' },
      { method: 'POST' as const, url: `/admin/v1/alerts/${randomUUID()}/acknowledge` },
      { method: 'POST' as const, url: `/admin/v1/alerts/${randomUUID()}/resolve` },
    ]) {
      const refused = await t.admin({ ...request, token: support.token });
      expect(refused.statusCode, request.url).toBe(403);
      expect((await t.admin(request)).statusCode).toBe(401);
    }
    const missing = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${randomUUID()}/resolve`, token: securityAdmin.token });
    expect(missing.statusCode).toBe(404);
    expect(errorCode(missing)).toBe('NOT_FOUND');
    expect(notices).toEqual([]);
  });

  it('lists newest first a page at a time, filtered by state', async () => {
    await begin();
    for (let i = 0; i < 3; i += 1) await refusal(randomUUID());
    await evaluate();
    const first = (await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=open&limit=2', token: securityAdmin.token })).json<{ items: AlertView[]; nextCursor: string | null }>();
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = (await t.admin({ method: 'GET', url: `/admin/v1/alerts?state=open&limit=2&cursor=${first.nextCursor}`, token: securityAdmin.token })).json<{ items: AlertView[]; nextCursor: string | null }>();
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    const ids = [...first.items, ...second.items].map((item) => item.id);
    expect(ids).toEqual([...ids].sort().reverse());
    expect([...first.items, ...second.items].every((item) => item.state === 'open')).toBe(true);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=closed', token: securityAdmin.token })).statusCode).toBe(400);
    expect((await t.admin({ method: 'GET', url: '/admin/v1/alerts?cursor=nonsense', token: securityAdmin.token })).statusCode).toBe(400);
  });

  it('two monitors racing over one database: one holds the lease; racing raises still make one alert (the unique index)', async () => {
    const since = await begin();
    const other = new Monitor(t.app.services, { rules: MONITOR_RULES, certificate: null, holder: 'other-node', onError: (error) => { throw error; } });
    const staffId = randomUUID();
    await refusal(staffId);
    const runs = await Promise.all([t.app.monitor.runOnce(t.clock.now()), other.runOnce(t.clock.now())]);
    expect(runs.map((run) => run.held).sort()).toEqual([false, true]);
    // The lease: the holder keeps it on renewal, the other takes over only when it is given up or expires.
    expect((await other.runOnce(t.clock.now())).held).toBe(false);
    await t.app.monitor.stop(); // releases the lease
    expect((await other.runOnce(t.clock.now())).held).toBe(true);
    expect((await t.app.monitor.runOnce(t.clock.now())).held).toBe(false);
    t.clock.advance(3 * MINUTE + 1); // the other node went silent: its lease expires
    expect((await t.app.monitor.runOnce(t.clock.now())).held).toBe(true);

    // Even without the lease (a holder change mid-run), the database lets exactly one alert open.
    const finding = { rule: 'staff-grant-refused', severity: 'medium' as const, subject: `staff:${randomUUID()}`, summary: 'race', details: {} };
    const raised = await Promise.all([0, 1, 2, 3, 4].map(() => raiseAlert(t.app.services, finding, t.clock.now())));
    expect(raised.filter((one) => one.opened)).toHaveLength(1);
    const alerts = (await alertsOpenedSince(t, since)).filter((alert) => alert.subject === finding.subject);
    expect(alerts.map((alert) => alert.occurrences)).toEqual([5]);
    expect(notices.filter((notice) => notice.subject === finding.subject)).toHaveLength(1);
  });

  it.runIf(dialect === 'postgres')('two app instances on one PostgreSQL: exactly one evaluates, one alert per incident', async () => {
    const since = await begin();
    const root = mkdtempSync(join(tmpdir(), 'confide-node2-'));
    const second = await createApp(loadConfig({ ...t.env, CONFIDE_DATA_DIR: join(root, 'data') }, root), { clock: t.clock, startWorkers: false });
    try {
      const staffId = randomUUID();
      await refusal(staffId);
      t.clock.advance(4 * MINUTE); // whoever held the lease before has let it lapse
      for (let round = 0; round < 3; round += 1) {
        const runs = await Promise.all([t.app.monitor.runOnce(t.clock.now()), second.monitor.runOnce(t.clock.now())]);
        expect(runs.filter((run) => run.held)).toHaveLength(1);
        t.clock.advance(MINUTE);
      }
      const alerts = (await alertsOpenedSince(t, since)).filter((alert) => alert.subject === `staff:${staffId}`);
      expect(alerts.map((alert) => [alert.state, alert.occurrences])).toEqual([['open', 3]]);
    } finally {
      await second.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

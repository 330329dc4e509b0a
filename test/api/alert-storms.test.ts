import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { alertsOpenedSince, freshWindow, recordEvent } from '../harness/monitoring.js';
import { bodyOf } from '../harness/smtp-sink.js';
import { ENCRYPTED_FIELDS } from '../../src/keys/encrypted-fields.js';
import { transitionAlert, type AlertView } from '../../src/monitoring/alert-store.js';
import { STORM_CAP, STORM_SAMPLE_SIZE, STORM_SUBJECT } from '../../src/monitoring/alert-storm.js';
import { Monitor } from '../../src/monitoring/monitor.js';
import { MONITOR_RULES } from '../../src/monitoring/monitor-rules.js';

/*
 * Alert storms (issue 10: "one e-mail and one signed webhook — not a thousand"): password spraying
 * over hundreds of accounts from rotating addresses makes `brute-force-account` true for every
 * account. At most STORM_CAP new alerts per rule an hour are opened; the rest fold into ONE alert
 * of the rule for STORM_SUBJECT, delivered once, refreshed while the storm lasts, resolved when it ends.
 */

const MINUTE = 60;
const ONCALL = 'oncall@ops.example';
const RULE = 'brute-force-account';

describe.each(DIALECTS)('alert storms on %s', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    // The webhook receiver is down (nothing listens): every delivery stays queued in webhook_deliveries.
    const port = await freePort();
    t = await createTestApp(dialect, {
      env: { CONFIDE_ALERT_EMAILS: ONCALL, CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/confide`, CONFIDE_ALERT_WEBHOOK_SECRET: `whsec-${randomBytes(16).toString('hex')}` },
    });
  });
  afterAll(async () => t?.close());

  const evaluate = () => t.app.monitor.runOnce(t.clock.now());
  /** Starts a test past every window, with earlier tests' alerts resolved. */
  const begin = async () => {
    const since = freshWindow(t);
    await evaluate();
    return since;
  };
  /**
   * Password spraying: each of `accounts` fails 10 sign-ins (one a second, each from its own
   * address, so no source reaches credential-stuffing): brute-force-account holds for each.
   */
  const spray = async (accounts: readonly string[]) => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      accounts.forEach((id, i) =>
        t.app.services.securityEvents.record({ type: 'signin.password', outcome: 'failure', actor: { type: 'member', id }, ip: `10.${attempt}.${i >> 8}.${i & 255}` }),
      );
      await t.app.services.securityEvents.flush();
      t.clock.advance(1);
    }
  };
  const accounts = (n: number) => Array.from({ length: n }, () => randomUUID());
  const ruleAlerts = async (since: Date, rule = RULE) => (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === rule);
  const storms = (alerts: AlertView[]) => alerts.filter((alert) => alert.subject === STORM_SUBJECT);
  /** The opened-alert mails to the on-call address about `ids`. */
  const openedMails = async (ids: readonly string[]) =>
    (await t.mailTo(ONCALL)).map(bodyOf).filter((body) => body.includes('An alert was raised.') && ids.some((id) => body.includes(`Alert: ${id}`)));
  /** The queued webhook deliveries about `ids`, as their alert ids. */
  const webhooks = async (ids: readonly string[]) =>
    (await t.app.services.db.selectFrom('webhook_deliveries').select('alert_id').where('alert_id', 'in', [...ids]).execute()).map((row) => row.alert_id);
  /** The alert.opened security events about `ids`. */
  const openedEvents = async (ids: readonly string[]) => {
    await t.app.services.securityEvents.flush();
    const { db, keyRing } = t.app.services;
    const rows = await db.selectFrom('security_events').select(['id', 'details_enc']).where('type', '=', 'alert.opened').execute();
    const cipher = keyRing.systemCipher();
    return rows.filter((row) => ids.includes((JSON.parse(cipher.decrypt(row.details_enc!, ENCRYPTED_FIELDS.securityEventsDetails.location(row))) as { alertId: string }).alertId));
  };

  it('spraying over 300 accounts: 5 alerts and one folded alert, 6 e-mails and 6 webhooks; the fold counts every subject', async () => {
    const since = await begin();
    const sprayed = accounts(300);
    await spray(sprayed);
    const staffId = randomUUID(); // another rule's incident during the storm: its own alert, its own cap
    await recordEvent(t, { type: 'staff.grant.refused', outcome: 'refused', actor: { type: 'staff', id: staffId }, ip: '10.1.2.3', details: { why: 'none' } });
    const run = await evaluate();
    expect(run.opened).toBe(STORM_CAP + 2);

    const alerts = await ruleAlerts(since);
    expect(alerts).toHaveLength(STORM_CAP + 1);
    const [storm] = storms(alerts);
    expect(storm).toMatchObject({ severity: 'high', state: 'open', occurrences: 1 });
    expect(storm!.details).toMatchObject({ subjects: 300 - STORM_CAP, totalSubjects: 300, ownAlerts: STORM_CAP, cap: STORM_CAP, capWindowMinutes: 60 });
    const sample = storm!.details!.sample as Array<{ subject: string; count: number }>;
    expect(sample).toHaveLength(STORM_SAMPLE_SIZE);
    const own = alerts.filter((alert) => alert.subject !== STORM_SUBJECT).map((alert) => alert.subject);
    for (const { subject, count } of sample) {
      expect(sprayed.map((id) => `member:${id}`)).toContain(subject);
      expect(own).not.toContain(subject);
      expect(count).toBe(10);
    }
    expect(storm!.summary).toContain('300 subjects');
    expect((await ruleAlerts(since, 'staff-grant-refused')).map((alert) => alert.subject)).toEqual([`staff:${staffId}`]);

    const ids = alerts.map((alert) => alert.id);
    expect(await openedMails(ids)).toHaveLength(STORM_CAP + 1);
    expect((await openedMails([storm!.id]))[0]).toContain(`Subject: ${STORM_SUBJECT}`);
    expect((await webhooks(ids)).sort()).toEqual([...ids].sort());
    expect(await openedEvents(ids)).toHaveLength(STORM_CAP + 1);

    // The storm goes on, with 50 more accounts: refreshed and absorbed, nothing new opened or sent.
    t.clock.advance(MINUTE);
    await spray(accounts(50));
    expect(await evaluate()).toMatchObject({ opened: 0 });
    const later = await ruleAlerts(since);
    expect(later.map((alert) => alert.id).sort()).toEqual([...ids].sort());
    expect(storms(later)[0]).toMatchObject({ occurrences: 2, details: { subjects: 350 - STORM_CAP, totalSubjects: 350, ownAlerts: STORM_CAP } });
    expect(later.filter((alert) => alert.subject !== STORM_SUBJECT).every((alert) => alert.occurrences === 2)).toBe(true);
    expect(await openedMails(ids)).toHaveLength(STORM_CAP + 1);
    expect(await webhooks(ids)).toHaveLength(STORM_CAP + 1);

    // The storm ends: the failures leave the 15-minute window, and 30 minutes clear resolve every alert.
    t.clock.advance(15 * MINUTE);
    await evaluate();
    expect((await ruleAlerts(since)).every((alert) => alert.state === 'open')).toBe(true);
    t.clock.advance(30 * MINUTE);
    expect(await evaluate()).toMatchObject({ opened: 0 });
    const ended = await ruleAlerts(since);
    expect(ended.map((alert) => [alert.state, alert.resolvedBy])).toEqual(ended.map(() => ['resolved', 'system']));
    expect(await webhooks([storm!.id])).toHaveLength(2); // opened, resolved
  });

  it('a normal incident, and exactly the cap of them, are not folded; refreshing open alerts is never capped', async () => {
    const since = await begin();
    const one = accounts(1);
    await spray(one);
    await evaluate();
    expect((await ruleAlerts(since)).map((alert) => [alert.subject, alert.state])).toEqual([[`member:${one[0]}`, 'open']]);

    await spray(accounts(STORM_CAP - 1)); // with the first: exactly STORM_CAP this hour
    for (let i = 0; i < 3; i += 1) {
      await evaluate();
      t.clock.advance(MINUTE);
    }
    const alerts = await ruleAlerts(since);
    expect(alerts).toHaveLength(STORM_CAP);
    expect(storms(alerts)).toEqual([]);
    expect(alerts.map((alert) => alert.occurrences).sort()).toEqual([3, 3, 3, 3, 4]);
    expect(await openedMails(alerts.map((alert) => alert.id))).toHaveLength(STORM_CAP);
  });

  it('an open storm absorbs new subjects even after the cap’s hour has passed, and opens no new one-subject alert', async () => {
    const since = await begin();
    await spray(accounts(STORM_CAP + 3));
    await evaluate();
    expect(storms(await ruleAlerts(since))).toHaveLength(1);
    // Every 10 minutes for 80 minutes, 3 new accounts: the storm never clears for 30 minutes.
    for (let step = 0; step < 8; step += 1) {
      t.clock.advance(10 * MINUTE);
      await spray(accounts(3));
      expect(await evaluate()).toMatchObject({ opened: 0 });
    }
    const alerts = await ruleAlerts(since);
    expect(alerts).toHaveLength(STORM_CAP + 1);
    expect(storms(alerts)[0]).toMatchObject({ state: 'open', occurrences: 9 });
    expect(alerts.filter((alert) => alert.subject !== STORM_SUBJECT).every((alert) => alert.state === 'resolved')).toBe(true);
  });

  it('a storm resolved by hand is not opened again from the same evidence; new evidence after it is', async () => {
    const since = await begin();
    await spray(accounts(STORM_CAP + 10));
    await evaluate();
    const [storm] = storms(await ruleAlerts(since));
    const resolved = await transitionAlert(t.app.services, storm!.id, 'resolved', { type: 'staff', id: randomUUID() }, t.clock.now());
    expect(resolved).toMatchObject({ state: 'resolved' });
    for (let i = 0; i < 5; i += 1) {
      t.clock.advance(MINUTE);
      expect(await evaluate()).toMatchObject({ opened: 0 });
    }
    expect(storms(await ruleAlerts(since)).map((alert) => alert.state)).toEqual(['resolved']);

    await spray(accounts(2)); // a new storm after the resolution: the cap is spent, so it folds
    expect(await evaluate()).toMatchObject({ opened: 1 });
    const [fresh] = storms(await ruleAlerts(since));
    expect(fresh).toMatchObject({ state: 'open', details: { subjects: 2 } });
  });

  it('two monitors (two holders): one folded alert, refreshed by whichever holds the lease; racing evaluations still one', async () => {
    const since = await begin();
    const other = new Monitor(t.app.services, { rules: MONITOR_RULES, certificate: null, holder: 'other-node', onError: (error) => { throw error; } });
    await spray(accounts(40));
    const runs = await Promise.all([evaluate(), other.runOnce(t.clock.now())]);
    expect(runs.map((run) => run.held).sort()).toEqual([false, true]);
    t.clock.advance(3 * MINUTE + 1); // the holder went silent: the other node takes over
    const [first, second] = runs[0].held ? [other, t.app.monitor] : [t.app.monitor, other];
    expect(await first.runOnce(t.clock.now())).toMatchObject({ held: true, opened: 0 });
    expect(await second.runOnce(t.clock.now())).toMatchObject({ held: false });
    let alerts = await ruleAlerts(since);
    expect(alerts).toHaveLength(STORM_CAP + 1);
    expect(storms(alerts)[0]).toMatchObject({ occurrences: 2, details: { subjects: 40 - STORM_CAP } });

    // Without the lease (a holder change mid-run), two evaluations at once: still one storm alert.
    const again = await begin();
    await spray(accounts(40));
    const racing = [t.app.monitor.holder, t.app.monitor.holder].map(
      (holder) => new Monitor(t.app.services, { rules: MONITOR_RULES.filter((rule) => rule.name === RULE), certificate: null, holder, onError: (error) => { throw error; } }),
    );
    const raced = await Promise.all(racing.map((monitor) => monitor.runOnce(t.clock.now())));
    expect(raced.map((run) => run.held)).toEqual([true, true]);
    alerts = await ruleAlerts(again);
    expect(storms(alerts)).toHaveLength(1);
    expect(alerts).toHaveLength(STORM_CAP + 1);
    expect(await openedMails(alerts.map((alert) => alert.id))).toHaveLength(STORM_CAP + 1);
  });
});

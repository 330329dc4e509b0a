import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant } from '../harness/builders.js';
import { alertsOpenedSince } from '../harness/monitoring.js';
import { rotateKey } from '../../src/key-rotation/rotate-key.js';
import { SYSTEM_OWNER } from '../../src/keys/key-ring.js';
import { transitionAlert } from '../../src/monitoring/alert-store.js';
import { STORM_CAP, STORM_SUBJECT } from '../../src/monitoring/alert-storm.js';
import { ALERT_CLEAR_SECONDS } from '../../src/monitoring/monitor.js';

const DAY = 86_400;
const RULE = 'key-max-age';

describe.each(DIALECTS)('the key-max-age monitor rule (%s)', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_KEY_MAX_AGE_DAYS: '30' } });
  });
  afterEach(() => t.close());

  const evaluate = () => t.app.monitor.runOnce(t.clock.now());
  const keyAlerts = async (since: Date) => (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === RULE);
  const rotate = (owner: string) => rotateKey(t.app.services, owner, { actor: { type: 'system', id: 'host:test' }, requestedBy: 'host:test' });

  it('fires for a key older than the maximum age, not for a fresh one, and resolves itself once the key is rotated', async () => {
    const since = t.clock.now();
    const tenant = await buildTenant(t);
    t.clock.advance(30 * DAY); // 30 days: not yet older than 30
    await evaluate();
    expect(await keyAlerts(since)).toEqual([]);

    t.clock.advance(DAY);
    await evaluate();
    const raised = await keyAlerts(since);
    expect(raised.map((alert) => alert.subject).sort()).toEqual([`key ${SYSTEM_OWNER}`, `key ${tenant.tenantId}`].sort());
    const tenantAlert = raised.find((alert) => alert.subject === `key ${tenant.tenantId}`)!;
    expect(tenantAlert).toMatchObject({ severity: 'medium', state: 'open', details: { owner: tenant.tenantId, version: 1, ageDays: 31, maxAgeDays: 30 } });
    expect(tenantAlert.summary).not.toContain(tenant.organization); // the tenant by its id, never its name

    await rotate(tenant.tenantId);
    await evaluate(); // the tenant's key is fresh now: its alert is no longer refreshed
    t.clock.advance(ALERT_CLEAR_SECONDS + 60);
    await evaluate();
    const after = await keyAlerts(since);
    expect(after.find((alert) => alert.subject === `key ${tenant.tenantId}`)).toMatchObject({ state: 'resolved', resolvedBy: 'system' });
    expect(after.find((alert) => alert.subject === `key ${SYSTEM_OWNER}`)).toMatchObject({ state: 'open' }); // still old
  });

  it('does not raise a hand-resolved alert again for the same version; a new version growing old raises it again', async () => {
    const since = t.clock.now();
    t.clock.advance(31 * DAY);
    await evaluate();
    const [first] = await keyAlerts(since);
    expect(first).toMatchObject({ subject: `key ${SYSTEM_OWNER}`, details: { version: 1 } });
    await transitionAlert(t.app.services, first!.id, 'resolved', { type: 'staff', id: randomUUID() }, t.clock.now());

    t.clock.advance(DAY);
    await evaluate();
    expect((await keyAlerts(since)).filter((alert) => alert.state !== 'resolved')).toEqual([]);

    const rotated = await rotate(SYSTEM_OWNER);
    t.clock.advance(31 * DAY);
    await evaluate();
    const open = (await keyAlerts(since)).filter((alert) => alert.state !== 'resolved');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ subject: `key ${SYSTEM_OWNER}`, details: { version: rotated.toVersion } });
  });

  it('folds 300 overdue keys into a storm: a handful of alerts, not 300', { timeout: 120_000 }, async () => {
    const since = t.clock.now();
    const { db, keyRing } = t.app.services;
    for (let i = 0; i < 300; i += 1) await keyRing.createOwnerKey(db, randomUUID()); // 300 tenants' first keys
    t.clock.advance(31 * DAY);
    await evaluate();
    const alerts = await keyAlerts(since);
    expect(alerts).toHaveLength(STORM_CAP + 1);
    const storm = alerts.find((alert) => alert.subject === STORM_SUBJECT)!;
    expect(storm.details).toMatchObject({ totalSubjects: 301, ownAlerts: STORM_CAP, subjects: 301 - STORM_CAP });
  });
});

import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { DIALECTS } from '../harness/dialects.js';
import { alertsOpenedSince, freshWindow } from '../harness/monitoring.js';
import { parsePrometheusText } from '../harness/prometheus-text.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/**
 * When the database refuses every write (not only the access log's), the security events that record
 * the outage cannot be stored either. They are kept by the sink and stored once the database
 * answers, so the monitor's `access-log-unavailable` rule still raises its alert afterwards.
 */
const TOKEN = randomBytes(32).toString('hex');

describe.each(DIALECTS)('a database refusing writes on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_METRICS_TOKEN: TOKEN } });
  });
  const unstoredGauge = async () => {
    const response = await t.admin({ method: 'GET', url: '/metrics', token: TOKEN });
    return parsePrometheusText(response.body).value('confide_security_events_unstored');
  };
  afterAll(() => t.close());

  const TABLES = ['access_log', 'security_events'] as const;
  const refuseWrites = async () => {
    for (const table of TABLES) {
      if (dialect === 'sqlite') await sql`CREATE TRIGGER ${sql.raw(`${table}_fault`)} BEFORE INSERT ON ${sql.table(table)} BEGIN SELECT RAISE(ABORT, 'injected fault'); END`.execute(t.app.services.db);
      else await sql`CREATE TRIGGER ${sql.raw(`${table}_fault`)} BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION injected_fault()`.execute(t.app.services.db);
    }
  };
  const acceptWrites = async () => {
    for (const table of TABLES) {
      if (dialect === 'sqlite') await sql`DROP TRIGGER ${sql.raw(`${table}_fault`)}`.execute(t.app.services.db);
      else await sql`DROP TRIGGER ${sql.raw(`${table}_fault`)} ON ${sql.table(table)}`.execute(t.app.services.db);
    }
  };

  it('keeps the events of the outage and stores them once it ends: the access-log-unavailable alert is raised', async () => {
    if (dialect !== 'sqlite') await sql`CREATE OR REPLACE FUNCTION injected_fault() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql`.execute(t.app.services.db);
    const since = freshWindow(t);
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const unavailable = () => t.app.services.db.selectFrom('security_events').select('id').where('type', '=', 'audit.unavailable').where('at', '>=', since.toISOString()).execute();

    await refuseWrites();
    try {
      for (let i = 0; i < 3; i += 1) {
        const read = await t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token });
        expect(read.statusCode).toBe(503);
        expect(read.json().error.code).toBe('AUDIT_UNAVAILABLE');
      }
      await t.app.services.securityEvents.flush();
      expect(await unavailable()).toEqual([]); // not stored: the database refuses
      expect(t.app.services.securityEvents.unstored.waiting()).toBeGreaterThanOrEqual(3);
      expect(await unstoredGauge()).toBeGreaterThanOrEqual(3); // what Prometheus alerts on meanwhile
      await t.app.monitor.runOnce(t.clock.now());
      expect((await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'access-log-unavailable')).toEqual([]);
    } finally {
      await acceptWrites();
    }

    await t.app.services.securityEvents.flush();
    expect(await unavailable()).toHaveLength(3);
    expect(t.app.services.securityEvents.unstored.waiting()).toBe(0);
    expect(await unstoredGauge()).toBe(0);
    await t.app.monitor.runOnce(t.clock.now());
    const alerts = (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'access-log-unavailable');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.state).toBe('open');
  });
});

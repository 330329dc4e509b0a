import { randomBytes, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { alertsOpenedSince, freshWindow } from '../harness/monitoring.js';
import { loadTlsCredentials } from '../../src/http/certificate.js';
import { Monitor } from '../../src/monitoring/monitor.js';
import { MONITOR_RULES } from '../../src/monitoring/monitor-rules.js';
import { NODE_CERTIFICATE_STALE_SECONDS, type ServedCertificate } from '../../src/monitoring/node-certificates.js';

const DAY_MS = 86_400_000;
const unique = () => randomBytes(4).toString('hex');

/**
 * certificate-expiring checks the certificate every live node serves, not only the lease holder's:
 * each node records its own at every monitor tick (holder or not), and the holder's rule reads them all.
 */
describe.each(DIALECTS)('certificate-expiring over every node’s certificate on %s', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => t?.close());

  /** A certificate expiring `days` (and an hour: the clock ticks on, daysLeft stays whole) from now, with a fingerprint of its own. */
  const certificateIn = (days: number): ServedCertificate => ({
    fingerprint: randomBytes(32).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:'),
    expiresAt: new Date(t.clock.now().getTime() + days * DAY_MS + 3_600_000),
    listener: 'public, admin',
  });
  /** Another node on the same database, serving `certificate`, with every rule (as `confide serve` has). */
  const otherNode = (certificate: ServedCertificate) =>
    new Monitor(t.app.services, {
      rules: MONITOR_RULES,
      certificate,
      holder: `node-${unique()}`,
      onError: (error) => {
        throw error;
      },
    });
  /** The app's own monitor runs first after the clock moved, so it holds (or takes back) the lease. */
  const holderRuns = () => t.app.monitor.runOnce(t.clock.now());
  const certificateAlerts = async (since: Date) => (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'certificate-expiring');
  const subjectOf = (certificate: ServedCertificate) => `tls certificate ${certificate.fingerprint.slice(0, 23)}`;

  it('the app records its own certificate (fingerprint, expiry, node), never its key', async () => {
    const now = freshWindow(t);
    await t.app.monitor.runOnce(now);
    const served = await loadTlsCredentials(t.app.config);
    const rows = await t.app.services.db.selectFrom('node_certificates').selectAll().where('node_id', '=', t.app.monitor.holder).execute();
    const x509 = new X509Certificate(served.cert);
    expect(rows).toEqual([
      { node_id: t.app.monitor.holder, listener: 'public, admin', fingerprint: x509.fingerprint256, expires_at: new Date(x509.validTo).toISOString(), seen_at: now.toISOString() },
    ]);
    expect(t.app.monitor.holder.startsWith(`${hostname()}:${process.pid}:`)).toBe(true);
    const key = served.key.replace(/-----[A-Z ]+-----|\s/g, '');
    expect(JSON.stringify(rows)).not.toContain(key.slice(0, 40));
  });

  it('a certificate expiring in 10 days on a node that does not hold the lease: the holder raises one alert for it', async () => {
    const since = freshWindow(t);
    expect(await holderRuns()).toMatchObject({ held: true, opened: 0 });
    const expiring = certificateIn(10);
    const other = otherNode(expiring);
    expect(await other.runOnce(t.clock.now())).toMatchObject({ held: false }); // it evaluates nothing, but records its certificate
    expect(await certificateAlerts(since)).toEqual([]);

    t.clock.advance(60);
    expect(await holderRuns()).toMatchObject({ held: true, opened: 1 });
    const alerts = await certificateAlerts(since);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      subject: subjectOf(expiring),
      state: 'open',
      severity: 'high',
      details: { daysLeft: 10, fingerprint: expiring.fingerprint, expiresAt: expiring.expiresAt.toISOString(), nodes: [other.holder] },
    });
    expect(alerts[0]!.summary).toContain(other.holder);

    // Further runs on both nodes refresh the one alert: no second one.
    t.clock.advance(60);
    await holderRuns();
    await other.runOnce(t.clock.now());
    t.clock.advance(60);
    expect(await holderRuns()).toMatchObject({ opened: 0, refreshed: 1 });
    expect(await certificateAlerts(since)).toHaveLength(1);
  });

  it('one certificate served by two nodes is one alert naming both; each expiring certificate has its own', async () => {
    const since = freshWindow(t);
    await holderRuns();
    const shared = certificateIn(5);
    const [first, second] = [otherNode(shared), otherNode(shared)];
    const later = certificateIn(15);
    for (const node of [first, second, otherNode(later)]) await node.runOnce(t.clock.now());
    await holderRuns();
    const alerts = await certificateAlerts(since);
    expect(alerts.map((alert) => [alert.subject, alert.details?.daysLeft]).sort()).toEqual(
      [
        [subjectOf(shared), 5],
        [subjectOf(later), 15],
      ].sort(),
    );
    const sharedAlert = alerts.find((alert) => alert.subject === subjectOf(shared))!;
    expect((sharedAlert.details?.nodes as string[]).sort()).toEqual([first.holder, second.holder].sort());
  });

  it('every node’s certificate fine: no alert', async () => {
    const since = freshWindow(t);
    await holderRuns();
    for (const days of [60, 89]) await otherNode(certificateIn(days)).runOnce(t.clock.now());
    t.clock.advance(60);
    await holderRuns();
    expect(await certificateAlerts(since)).toEqual([]);
  });

  it('a node not seen for longer than the staleness window is ignored, and its alert resolves itself', async () => {
    const since = freshWindow(t);
    await holderRuns();
    const gone = otherNode(certificateIn(10));
    await gone.runOnce(t.clock.now());
    await holderRuns();
    expect((await certificateAlerts(since)).map((alert) => alert.state)).toEqual(['open']);

    // It died: it no longer refreshes its row. Within the window it still counts...
    t.clock.advance(NODE_CERTIFICATE_STALE_SECONDS - 60);
    expect(await holderRuns()).toMatchObject({ refreshed: 1 });
    // ...past it, it is a node that left: nothing is raised for it, and the alert clears 30 minutes later.
    t.clock.advance(120);
    expect(await holderRuns()).toMatchObject({ opened: 0, refreshed: 0, resolved: 0 });
    t.clock.advance(31 * 60);
    expect(await holderRuns()).toMatchObject({ opened: 0, resolved: 1 });
    expect(await certificateAlerts(since)).toMatchObject([{ state: 'resolved', resolvedBy: 'system' }]);

    // A node that was down for a day and never came back raises nothing either.
    const since2 = freshWindow(t);
    const longGone = otherNode(certificateIn(3));
    await longGone.runOnce(new Date(t.clock.now().getTime() - DAY_MS));
    await holderRuns();
    expect(await certificateAlerts(since2)).toEqual([]);
  });

  it('a node that stops forgets its certificate at once', async () => {
    const since = freshWindow(t);
    await holderRuns();
    const leaving = otherNode(certificateIn(10));
    await leaving.runOnce(t.clock.now());
    await leaving.stop();
    const left = await t.app.services.db.selectFrom('node_certificates').select('node_id').where('node_id', '=', leaving.holder).execute();
    expect(left).toEqual([]);
    t.clock.advance(60);
    await holderRuns();
    expect(await certificateAlerts(since)).toEqual([]);
  });
});

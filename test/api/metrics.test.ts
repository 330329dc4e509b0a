import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/lib/ids.js';
import { buildRecord, buildTenant, errorCode, strongPassword } from '../harness/builders.js';
import { certificateAuthority, clientCertificate, type Pem } from '../harness/client-certificates.js';
import { DIALECTS } from '../harness/dialects.js';
import { parsePrometheusText, type Exposition } from '../harness/prometheus-text.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

/*
 * GET /metrics (issue 10, item 5): Prometheus text on the admin listener only, for the holder of
 * CONFIDE_METRICS_TOKEN or of a verified admin client certificate, and the counters moving when
 * what they count happens.
 */

const TOKEN = randomBytes(32).toString('hex');

async function scrape(t: TestApp): Promise<Exposition> {
  const response = await t.admin({ method: 'GET', url: '/metrics', token: TOKEN });
  expect(response.statusCode, response.body).toBe(200);
  return parsePrometheusText(response.body);
}

/** How much `name{labels}` grew while `action` ran (a series not yet there counts as 0). */
async function growth(t: TestApp, name: string, labels: Record<string, string>, action: () => Promise<unknown>): Promise<number> {
  const before = (await scrape(t)).value(name, labels) ?? 0;
  await action();
  return ((await scrape(t)).value(name, labels) ?? 0) - before;
}

describe.each(DIALECTS)('GET /metrics (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => t.close());

  it('is absent from the public listener, token or not: 404 (ASVS 13.4.2)', async () => {
    for (const token of [undefined, TOKEN]) {
      const response = await t.request({ method: 'GET', url: '/metrics', token });
      expect(response.statusCode).toBe(404);
      expect(errorCode(response)).toBe('NOT_FOUND');
      expect(response.body).not.toContain('confide_');
    }
  });

  it('requires the token: 401 without it or with another, 200 with it', async () => {
    const without = await t.admin({ method: 'GET', url: '/metrics' });
    expect(without.statusCode).toBe(401);
    expect(errorCode(without)).toBe('UNAUTHENTICATED');
    expect(without.headers['www-authenticate']).toBe('Bearer');
    for (const wrong of [randomBytes(32).toString('hex'), TOKEN.slice(0, -1), `${TOKEN}0`]) {
      const response = await t.admin({ method: 'GET', url: '/metrics', token: wrong });
      expect(response.statusCode).toBe(401);
      expect(response.body).not.toContain('confide_');
    }
    const right = await t.admin({ method: 'GET', url: '/metrics', token: TOKEN });
    expect(right.statusCode).toBe(200);
    expect(right.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('parses as Prometheus text and names every metric docs/deployment.md lists', async () => {
    const exposition = await scrape(t);
    expect(Object.fromEntries(exposition.types)).toMatchObject({
      confide_http_requests_total: 'counter',
      confide_http_request_duration_seconds: 'histogram',
      confide_http_errors_total: 'counter',
      confide_http_rate_limited_total: 'counter',
      confide_connections_refused_total: 'counter',
      confide_access_log_appends_total: 'counter',
      confide_access_log_append_failures_total: 'counter',
      confide_group_commit_batch_size: 'histogram',
      confide_security_events_total: 'counter',
      confide_alerts: 'gauge',
      confide_mail_queue_messages: 'gauge',
      confide_webhook_queue_deliveries: 'gauge',
      confide_tls_certificate_expiry_timestamp_seconds: 'gauge',
      confide_metrics_store_up: 'gauge',
    });
    expect(exposition.value('confide_metrics_store_up')).toBe(1);
    const docs = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
    for (const name of exposition.types.keys()) expect(docs, name).toContain(`\`${name}\``);
  });

  it('counts a request by listener, route pattern (never the URL) and status, with its latency', async () => {
    const labels = { listener: 'public', method: 'GET', route: '/healthz', status: '200' };
    expect(await growth(t, 'confide_http_requests_total', labels, () => t.request({ method: 'GET', url: '/healthz' }))).toBe(1);
    const latency = { listener: 'public', method: 'GET', route: '/healthz' };
    const exposition = await scrape(t);
    expect(exposition.value('confide_http_request_duration_seconds_count', latency)).toBeGreaterThanOrEqual(1);
    expect(exposition.value('confide_http_request_duration_seconds_bucket', { ...latency, le: '+Inf' })).toBe(exposition.value('confide_http_request_duration_seconds_count', latency));
    // A path no route matches is one series, whatever the path: nothing of the URL becomes a label.
    const secret = `cfs_${randomBytes(8).toString('hex')}`;
    await t.request({ method: 'GET', url: `/v1/${secret}?email=someone@example.test` });
    const after = await scrape(t);
    expect(after.value('confide_http_requests_total', { listener: 'public', method: 'GET', route: '(no route)', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(after.samples)).not.toContain(secret);
    expect(JSON.stringify(after.samples)).not.toContain('someone@example.test');
  });

  it('counts access-log appends, and append failures (503 AUDIT_UNAVAILABLE)', async () => {
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant);
    const read = () => t.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token });
    expect(await growth(t, 'confide_access_log_appends_total', {}, async () => expect((await read()).statusCode).toBe(200))).toBe(1);
    // Without its chain head the tenant's log cannot be appended to: the read is refused, and counted.
    await t.app.services.db.deleteFrom('access_log_heads').where('tenant_id', '=', tenant.tenantId).execute();
    const failures = await growth(t, 'confide_access_log_append_failures_total', {}, async () => {
      const response = await read();
      expect(response.statusCode).toBe(503);
      expect(errorCode(response)).toBe('AUDIT_UNAVAILABLE');
    });
    expect(failures).toBe(1);
    expect((await scrape(t)).value('confide_http_errors_total', { listener: 'public', code: 'AUDIT_UNAVAILABLE' })).toBe(1);
  });

  it('counts security events by type and outcome', async () => {
    const tenant = await buildTenant(t);
    const wrongPassword = () => t.request({ method: 'POST', url: '/v1/sessions', payload: { email: tenant.email, password: strongPassword() } });
    const labels = { type: 'signin.password', outcome: 'failure' };
    expect(await growth(t, 'confide_security_events_total', labels, async () => expect((await wrongPassword()).statusCode).toBe(401))).toBe(1);
  });

  it('observes group-commit batch sizes on SQLite (PostgreSQL commits each unit alone: none)', async () => {
    const tenant = await buildTenant(t);
    const before = await scrape(t);
    await Promise.all(Array.from({ length: 8 }, () => buildRecord(t, tenant)));
    const after = await scrape(t);
    const grew = (name: string) => (after.value(name) ?? 0) - (before.value(name) ?? 0);
    if (dialect === 'sqlite') {
      expect(grew('confide_group_commit_batch_size_count')).toBeGreaterThanOrEqual(1);
      // Every unit of work is in exactly one batch: at least one per record written.
      expect(grew('confide_group_commit_batch_size_sum')).toBeGreaterThanOrEqual(8);
      expect(grew('confide_group_commit_batch_size_sum')).toBeGreaterThanOrEqual(grew('confide_group_commit_batch_size_count'));
    } else {
      expect(after.value('confide_group_commit_batch_size_count')).toBe(0);
    }
  });

  it('reads the mail queue depth, alerts not resolved by rule and the webhook queue at scrape time', async () => {
    const email = `queued-${newId()}@example.test`;
    const signup = await t.request({ method: 'POST', url: '/v1/signup', remoteAddress: '198.51.100.31', payload: { organization: 'Queued', email, password: strongPassword() } });
    expect(signup.statusCode).toBe(201);
    expect((await scrape(t)).value('confide_mail_queue_messages')).toBeGreaterThanOrEqual(1);
    await t.mailTo(email); // delivers everything due
    expect((await scrape(t)).value('confide_mail_queue_messages')).toBe(0);

    const now = t.clock.now().toISOString();
    const alertId = newId();
    const rule = 'test.metrics_rule';
    await t.app.services.db
      .insertInto('alerts')
      .values({ id: alertId, rule, subject_index: newId(), subject_enc: 'sealed', severity: 'high', state: 'open', opened_at: now, last_seen_at: now, occurrences: 1, details_enc: null, acknowledged_at: null, acknowledged_by: null, resolved_at: null, resolved_by: null })
      .execute();
    await t.app.services.db
      .insertInto('webhook_deliveries')
      .values({ id: newId(), alert_id: alertId, payload_enc: 'sealed', attempts: 0, next_attempt_at: now, claimed_until: null, last_error: null, created_at: now })
      .execute();
    const open = await scrape(t);
    expect(open.value('confide_alerts', { rule, state: 'open' })).toBe(1);
    expect(open.value('confide_webhook_queue_deliveries')).toBe(1);
    await t.app.services.db.updateTable('alerts').set({ state: 'acknowledged' }).where('id', '=', alertId).execute();
    const acknowledged = await scrape(t);
    expect(acknowledged.value('confide_alerts', { rule, state: 'open' })).toBeUndefined();
    expect(acknowledged.value('confide_alerts', { rule, state: 'acknowledged' })).toBe(1);
    await t.app.services.db.deleteFrom('webhook_deliveries').where('alert_id', '=', alertId).execute();
    await t.app.services.db.updateTable('alerts').set({ state: 'resolved' }).where('id', '=', alertId).execute();
    const resolved = await scrape(t);
    expect(resolved.samples.filter((sample) => sample.labels.rule === rule)).toEqual([]);
    expect(resolved.value('confide_webhook_queue_deliveries')).toBe(0);
  });

  it('gives the served certificate’s expiry time (notAfter) in seconds since the epoch', async () => {
    const pem = readFileSync(join(t.dataDir, 'tls', 'self-signed-cert.pem'), 'utf8');
    const notAfter = Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000);
    expect((await scrape(t)).value('confide_tls_certificate_expiry_timestamp_seconds')).toBe(notAfter);
  });
});

describe.each(DIALECTS)('GET /metrics: 429s and configuration (%s)', (dialect) => {
  it('counts rate-limited answers by listener and code', async () => {
    const t = await createTestApp(dialect, { env: { CONFIDE_METRICS_TOKEN: TOKEN, CONFIDE_SIGNUPS_PER_IP_PER_HOUR: '1' } });
    try {
      const signUp = () =>
        t.request({ method: 'POST', url: '/v1/signup', remoteAddress: '198.51.100.41', payload: { organization: 'Burst', email: `b-${newId()}@example.test`, password: strongPassword() } });
      expect((await signUp()).statusCode).toBe(201);
      const labels = { listener: 'public', code: 'RATE_LIMITED' };
      const grew = await growth(t, 'confide_http_rate_limited_total', labels, async () => {
        const refused = await signUp();
        expect(refused.statusCode).toBe(429);
        expect(errorCode(refused)).toBe('RATE_LIMITED');
      });
      expect(grew).toBe(1);
      expect((await scrape(t)).value('confide_http_requests_total', { listener: 'public', method: 'POST', route: '/v1/signup', status: '429' })).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('answers 404 when neither CONFIDE_METRICS_TOKEN nor CONFIDE_ADMIN_CLIENT_CA is set', async () => {
    const t = await createTestApp(dialect);
    try {
      for (const token of [undefined, TOKEN]) {
        const response = await t.admin({ method: 'GET', url: '/metrics', token });
        expect(response.statusCode).toBe(404);
        expect(errorCode(response)).toBe('NOT_FOUND');
      }
    } finally {
      await t.close();
    }
  });
});

/** GET /metrics over a real TLS connection to the admin listener, presenting `client`. */
function scrapeOverTls(port: number, client: Pem, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/metrics', servername: 'localhost', rejectUnauthorized: false, agent: false, ...client, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.each(DIALECTS)('GET /metrics with CONFIDE_ADMIN_CLIENT_CA (%s)', (dialect) => {
  let t: TestApp;
  let port: number;
  let root: string;
  let client: Pem;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'confide-metrics-ca-'));
    const ca = await certificateAuthority('Confide staff CA');
    client = await clientCertificate(ca, 'prometheus');
    writeFileSync(join(root, 'staff-ca.pem'), ca.pem.cert);
    t = await createTestApp(dialect, { env: { CONFIDE_ADMIN_CLIENT_CA: join(root, 'staff-ca.pem') } });
    await t.app.adminServer.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.adminServer.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a verified client certificate reads the metrics without a token', async () => {
    const answer = await scrapeOverTls(port, client);
    expect(answer.status, answer.body).toBe(200);
    expect(parsePrometheusText(answer.body).value('confide_metrics_store_up')).toBe(1);
  });

  it('without a verified certificate (no TLS client, as inject) and without a token: 401', async () => {
    const response = await t.admin({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

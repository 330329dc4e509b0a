import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant } from '../harness/builders.js';
import { buildStaff, signInStaff } from '../harness/staff.js';
import { bodyOf } from '../harness/smtp-sink.js';

/*
 * Issue 10's user story, from the attack to the resolved alert, with every part real: someone tries
 * passwords against many accounts from one address; the monitor (run three times, as three minutes
 * of the worker would) raises ONE alert; the on-call engineer gets one e-mail on a real SMTP server
 * and one signed webhook on a real HTTP receiver; a security-admin sees it on the admin listener,
 * acknowledges it, and later sees it resolved once the attack has stopped.
 */

const SECRET = `whsec-${randomBytes(24).toString('hex')}`;
const ATTACKER = '198.51.100.23';
const ONCALL = 'oncall@ops.example';

describe.each(DIALECTS)('monitoring, from attack to resolved alert (%s)', (dialect) => {
  let t: TestApp;
  let receiver: Server;
  const hooks: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    const port = await freePort();
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        hooks.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    t = await createTestApp(dialect, {
      smtp: true,
      env: { CONFIDE_ALERT_EMAILS: ONCALL, CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/confide`, CONFIDE_ALERT_WEBHOOK_SECRET: SECRET },
    });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  const alertMails = async () => (await t.mailTo(ONCALL)).map(bodyOf);
  const deliverWebhooks = () => t.app.services.alertNotifier.webhooks!.kick();
  const signed = (hook: { headers: IncomingHttpHeaders; body: string }) =>
    hook.headers['x-confide-signature'] === `sha256=${createHmac('sha256', SECRET).update(`${String(hook.headers['x-confide-timestamp'])}.${hook.body}`).digest('hex')}`;

  it('credential stuffing from one address: one alert, one e-mail, one signed webhook; acknowledged, then resolved when it stops', async () => {
    const admin = await buildStaff(t, { role: 'security-admin' });
    const victims = await Promise.all(Array.from({ length: 3 }, () => buildTenant(t)));
    // 25 accounts tried from one address, most of them unknown: the credential-stuffing rule's threshold is 20.
    const tried = [...victims.map((victim) => victim.email), ...Array.from({ length: 22 }, (_, i) => `someone-${i}@example.net`)];
    for (const email of tried) {
      const attempt = await t.request({ method: 'POST', url: '/v1/sessions', remoteAddress: ATTACKER, payload: { email, password: 'Winter2026!' } });
      expect(attempt.statusCode).toBe(401);
    }
    await t.app.services.securityEvents.flush();

    for (let minute = 0; minute < 3; minute++) {
      await t.app.monitor.runOnce(t.clock.now());
      t.clock.advance(60);
    }
    await deliverWebhooks();

    const list = await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=open', token: admin.token });
    expect(list.statusCode, list.body).toBe(200);
    const stuffing = list.json().items.filter((alert: { rule: string }) => alert.rule === 'credential-stuffing');
    expect(stuffing).toHaveLength(1);
    expect(stuffing[0]).toMatchObject({ severity: 'critical', state: 'open', subject: ATTACKER, occurrences: 3 });
    const opened = (await alertMails()).filter((mail) => mail.includes('credential-stuffing'));
    expect(opened).toHaveLength(1);
    expect(hooks.filter((hook) => hook.body.includes('credential-stuffing'))).toHaveLength(1);
    expect(hooks.every(signed)).toBe(true);
    expect(JSON.parse(hooks[0]!.body)).toMatchObject({ type: 'alert.opened', alert: { rule: 'credential-stuffing', severity: 'critical' } });

    const acknowledged = await t.admin({ method: 'POST', url: `/admin/v1/alerts/${stuffing[0].id}/acknowledge`, token: admin.token });
    expect(acknowledged.statusCode, acknowledged.body).toBe(200);
    expect(acknowledged.json()).toMatchObject({ state: 'acknowledged', acknowledgedBy: admin.id });

    // The attack stops; half an hour later the monitor finds the condition clear and resolves it.
    t.clock.advance(31 * 60);
    await t.app.monitor.runOnce(t.clock.now());
    await deliverWebhooks();
    const again = await signInStaff(t, admin); // the admin's session went idle meanwhile (15 minutes)
    const resolved = await t.admin({ method: 'GET', url: '/admin/v1/alerts?state=resolved', token: again });
    expect(resolved.json().items.find((alert: { id: string }) => alert.id === stuffing[0].id)).toMatchObject({ state: 'resolved', resolvedBy: 'system' });

    // Three transitions, each told once by mail and once by webhook.
    const told = (await alertMails()).filter((mail) => mail.includes('credential-stuffing'));
    expect(told).toHaveLength(3);
    const transitions = hooks.filter((hook) => hook.body.includes('credential-stuffing')).map((hook) => JSON.parse(hook.body).type);
    expect(transitions).toEqual(['alert.opened', 'alert.acknowledged', 'alert.resolved']);
    // Neither the passwords tried nor the webhook secret reach the on-call engineer.
    for (const text of [...told, ...hooks.map((hook) => hook.body)]) {
      expect(text).not.toContain('Winter2026!');
      expect(text).not.toContain(SECRET);
    }
  });
});

import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigError } from '../../src/config/load-config.js';
import { readMail } from '../../src/mail/read-mail.js';
import { insertTestAlert, notifyTransition } from '../harness/alert-fixture.js';
import { DIALECTS } from '../harness/dialects.js';
import { freePort } from '../harness/free-port.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

const SECRET = `whsec-${randomBytes(24).toString('hex')}`;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A real HTTP receiver on loopback, answering each POST with the next status of `statuses` (the last one repeats). */
async function startReceiver(port: number, statuses: number[]): Promise<{ received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answered = statuses[Math.min(received.length, statuses.length - 1)]!;
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      response.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** What a receiver does with the documented scheme (docs/alert-delivery.md): recompute the HMAC and compare. */
function verifies(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['x-confide-timestamp']);
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  return headers['x-confide-signature'] === expected;
}

describe.each(DIALECTS)('alert delivery on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('e-mails each address of CONFIDE_ALERT_EMAILS once per transition, through a real SMTP server, with no secret in the mail (ASVS 16.2.5)', async () => {
    const port = await freePort();
    t = await createTestApp(dialect, {
      smtp: true,
      env: { CONFIDE_ALERT_EMAILS: 'oncall@ops.test, security@ops.test', CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, CONFIDE_ALERT_WEBHOOK_SECRET: SECRET },
    });
    const notice = await insertTestAlert(t);
    await notifyTransition(t, notice, 'opened');
    await notifyTransition(t, notice, 'acknowledged', 'staff-0001');
    await notifyTransition(t, notice, 'resolved', 'system');
    for (const address of ['oncall@ops.test', 'security@ops.test']) {
      const raw = await t.mailTo(address);
      const mails = await Promise.all(raw.map(async (mail) => ({ raw: mail.raw, ...(await readMail(mail.raw)) })));
      expect(mails.map((mail) => mail.subject)).toEqual([
        'Confide alert opened: [high] credential-stuffing (source 203.0.113.0)',
        'Confide alert acknowledged: [high] credential-stuffing (source 203.0.113.0)',
        'Confide alert resolved: [high] credential-stuffing (source 203.0.113.0)',
      ]);
      for (const mail of mails) {
        expect(mail.text).toContain(`Alert: ${notice.id}`);
        expect(mail.text).toContain('Summary: 40 failed sign-ins over 25 accounts in 5 minutes');
        for (const secret of [SECRET, t.env.CONFIDE_MASTER_KEY!]) expect(mail.raw).not.toContain(secret);
      }
      expect(mails[1]!.text).toContain('State: acknowledged (by staff-0001)');
    }
    expect(t.smtp!.received).toHaveLength(6);
  });

  it('posts a signed webhook, retried with backoff while the receiver is down, delivered once and then deleted', async () => {
    const port = await freePort();
    t = await createTestApp(dialect, { env: { CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, CONFIDE_ALERT_WEBHOOK_SECRET: SECRET } });
    const webhooks = t.app.services.alertNotifier.webhooks!;
    const attempts = async () => (await t!.app.services.db.selectFrom('webhook_deliveries').select(['attempts', 'last_error']).execute());
    const notice = await insertTestAlert(t);
    await notifyTransition(t, notice, 'opened'); // delivery starts after the commit: the receiver is not there yet
    await webhooks.kick();
    expect(await attempts()).toEqual([{ attempts: 1, last_error: 'ECONNREFUSED' }]);

    const receiver = await startReceiver(port, [503, 200]);
    try {
      await webhooks.kick();
      expect(receiver.received).toHaveLength(0); // not due yet: the first retry waits 5 s
      t.clock.advance(5);
      await webhooks.kick();
      expect(receiver.received.map((r) => r.answered)).toEqual([503]);
      expect(await attempts()).toEqual([{ attempts: 2, last_error: 'HTTP 503' }]);
      t.clock.advance(9); // the second retry waits 10 s
      await webhooks.kick();
      expect(receiver.received).toHaveLength(1);
      t.clock.advance(1);
      await webhooks.kick();
      expect(receiver.received.map((r) => r.answered)).toEqual([503, 200]);
      expect(await webhooks.pendingCount()).toBe(0);
      t.clock.advance(3600);
      await webhooks.kick();
      expect(receiver.received).toHaveLength(2); // delivered once: nothing is posted again

      const { headers, body } = receiver.received[1]!;
      expect(verifies(SECRET, headers, body)).toBe(true);
      expect(verifies(`${SECRET}x`, headers, body)).toBe(false);
      expect(Math.abs(Number(headers['x-confide-timestamp']) - t.clock.now().getTime() / 1000)).toBeLessThan(3700);
      expect(headers['content-type']).toBe('application/json');
      const payload = JSON.parse(body);
      expect(payload).toMatchObject({
        type: 'alert.opened',
        deliveryId: headers['x-confide-delivery'],
        alert: { id: notice.id, rule: 'credential-stuffing', severity: 'high', state: 'open', transition: 'opened', subject: 'source 203.0.113.0', occurrences: 3, openedAt: notice.openedAt },
      });
      expect(payload.alert.summary).toBe(notice.summary);
      expect(body).not.toContain(SECRET);
      // The same delivery both times: the retry re-sent the one stored body.
      expect(receiver.received[0]!.body).toBe(body);
    } finally {
      await receiver.close();
    }
  });

  it('keeps a delivery through a restart-free outage of any length, backing off to at most 15 minutes', async () => {
    const port = await freePort();
    t = await createTestApp(dialect, { env: { CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, CONFIDE_ALERT_WEBHOOK_SECRET: SECRET } });
    const webhooks = t.app.services.alertNotifier.webhooks!;
    await notifyTransition(t, await insertTestAlert(t), 'opened');
    for (let i = 0; i < 12; i++) {
      await webhooks.kick();
      t.clock.advance(15 * 60);
    }
    const [row] = await t.app.services.db.selectFrom('webhook_deliveries').select(['attempts', 'next_attempt_at']).execute();
    expect(row!.attempts).toBe(12);
    const wait = (new Date(row!.next_attempt_at).getTime() - t.clock.now().getTime()) / 1000;
    expect(wait).toBeLessThanOrEqual(0); // each retry came due within the 15 minutes the cap allows
    const receiver = await startReceiver(port, [204]);
    try {
      await webhooks.kick();
      expect(receiver.received).toHaveLength(1);
      expect(await webhooks.pendingCount()).toBe(0);
    } finally {
      await receiver.close();
    }
  });
});

describe.each(DIALECTS)('webhook claims on %s', (dialect) => {
  it('claim each delivery from the time it is taken, not from the start of a slow round: no other node can take it while it is posted', async () => {
    const port = await freePort();
    const t = await createTestApp(dialect, { env: { CONFIDE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, CONFIDE_ALERT_WEBHOOK_SECRET: SECRET } });
    const claims: Array<{ claimedUntil: number; now: number }> = [];
    // The first POST takes 150 s by the clock (a slow receiver); the second records its own claim as it arrives.
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        void (async () => {
          if (claims.length === 0) t.clock.advance(150);
          const row = await t.app.services.db.selectFrom('webhook_deliveries').select('claimed_until').where('id', '=', String(request.headers['x-confide-delivery'])).executeTakeFirst();
          claims.push({ claimedUntil: Date.parse(row!.claimed_until!), now: t.clock.now().getTime() });
          response.writeHead(204).end();
        })();
      });
    });
    try {
      // Both deliveries first fail (no receiver yet), so that both come due in one later round.
      const webhooks = t.app.services.alertNotifier.webhooks!;
      await notifyTransition(t, await insertTestAlert(t), 'opened');
      await notifyTransition(t, await insertTestAlert(t), 'opened');
      await webhooks.kick();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      t.clock.advance(60);
      await webhooks.kick();
      expect(claims).toHaveLength(2);
      // The second delivery is claimed for 120 s from when it was taken (after the first's 150 s, which stand for a round
      // of many slow posts: one post times out after 10 s), so it is still claimed while it is posted.
      expect(claims[1]!.claimedUntil).toBeGreaterThan(claims[1]!.now);
      expect(await webhooks.pendingCount()).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await t.close();
    }
  });
});

describe('alert delivery configuration', () => {
  const base = { CONFIDE_MASTER_KEY: randomBytes(32).toString('base64') };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env }, '/tmp');
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it('refuses a webhook URL without its secret, and a secret without a URL, in one line naming the variable', () => {
    expect(problems({ CONFIDE_ALERT_WEBHOOK_URL: 'https://hooks.example.com/confide' })).toEqual(['CONFIDE_ALERT_WEBHOOK_SECRET must be set with CONFIDE_ALERT_WEBHOOK_URL']);
    expect(problems({ CONFIDE_ALERT_WEBHOOK_SECRET: SECRET })).toEqual(['CONFIDE_ALERT_WEBHOOK_URL must be set with CONFIDE_ALERT_WEBHOOK_SECRET']);
    expect(problems({ CONFIDE_ALERT_WEBHOOK_URL: 'https://hooks.example.com/confide', CONFIDE_ALERT_WEBHOOK_SECRET: SECRET })).toEqual([]);
  });

  it('refuses plain http:// to another host, a short secret and a malformed address list', () => {
    expect(problems({ CONFIDE_ALERT_WEBHOOK_URL: 'http://hooks.example.com/confide', CONFIDE_ALERT_WEBHOOK_SECRET: SECRET })[0]).toMatch(/^CONFIDE_ALERT_WEBHOOK_URL may use http:\/\/ only for a loopback host/);
    expect(problems({ CONFIDE_ALERT_WEBHOOK_URL: 'https://hooks.example.com/confide', CONFIDE_ALERT_WEBHOOK_SECRET: 'short' })[0]).toMatch(/^CONFIDE_ALERT_WEBHOOK_SECRET must be at least 32 characters/);
    expect(problems({ CONFIDE_ALERT_WEBHOOK_URL: 'https://user:pw@hooks.example.com/confide', CONFIDE_ALERT_WEBHOOK_SECRET: SECRET })[0]).toMatch(/^CONFIDE_ALERT_WEBHOOK_URL must not hold a user name or password/);
    expect(problems({ CONFIDE_ALERT_EMAILS: 'oncall@ops.test,,x' })[0]).toMatch(/^CONFIDE_ALERT_EMAILS must be e-mail addresses/);
    expect(loadConfig({ ...base, CONFIDE_ALERT_EMAILS: 'a@ops.test, b@ops.test' }, '/tmp').alerts.emails).toEqual(['a@ops.test', 'b@ops.test']);
  });
});

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { startSmtpSink } from '../harness/smtp-sink.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { loadConfig } from '../../src/config/load-config.js';

async function queueMail(t: TestApp, to: string, subject: string, text: string) {
  const { services } = t.app;
  await services.transactions.run((trx) => services.mail.enqueue(trx, services.keyRing.systemCipher(), { to, subject, text }));
}

describe.each(DIALECTS)('mail on %s', (dialect) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('delivers queued mail over SMTP on loopback', async () => {
    const sink = await startSmtpSink();
    cleanup.push(() => sink.close());
    const t = await createTestApp(dialect, { env: { CONFIDE_SMTP_URL: `smtp://127.0.0.1:${sink.port}?tls=off`, CONFIDE_MAIL_FROM: 'Confide <security@confide.test>' } });
    cleanup.push(() => t.close());
    await queueMail(t, 'alice@example.test', 'A factor was added', 'Hello Alice');
    await t.app.services.mail.kick();
    expect(sink.received).toHaveLength(1);
    expect(sink.received[0]).toMatchObject({ from: 'security@confide.test', to: ['alice@example.test'] });
    expect(sink.received[0]!.raw).toContain('Subject: A factor was added');
    expect(sink.received[0]!.raw).toContain('Hello Alice');
    expect(await t.app.services.mail.pendingCount()).toBe(0);
  });

  it('keeps mail while SMTP is down and sends it when SMTP returns', async () => {
    const port = await freePort();
    const t = await createTestApp(dialect, { env: { CONFIDE_SMTP_URL: `smtp://127.0.0.1:${port}?tls=off`, CONFIDE_MAIL_RETRY_BASE_SECONDS: '5' } });
    cleanup.push(() => t.close());
    for (let i = 0; i < 3; i += 1) await queueMail(t, `user${i}@example.test`, `Notice ${i}`, `Body ${i}`);

    await t.app.services.mail.kick(); // nobody listens: every delivery fails
    expect(await t.app.services.mail.pendingCount()).toBe(3);
    const rows = await t.app.services.db.selectFrom('mail_queue').selectAll().execute();
    expect(rows.every((row) => row.attempts === 1 && row.last_error !== null)).toBe(true);
    expect(rows.map((row) => row.last_error).join()).not.toContain('example.test');

    const sink = await startSmtpSink(port);
    cleanup.push(() => sink.close());
    await t.app.services.mail.kick(); // not due yet: backoff
    expect(sink.received).toHaveLength(0);

    t.clock.advance(6);
    await t.app.services.mail.kick();
    expect(sink.received.map((m) => m.to[0]).sort()).toEqual(['user0@example.test', 'user1@example.test', 'user2@example.test']);
    expect(await t.app.services.mail.pendingCount()).toBe(0);
  });

  it('backs off exponentially, capped, and never gives up', async () => {
    const port = await freePort();
    const t = await createTestApp(dialect, { env: { CONFIDE_SMTP_URL: `smtp://127.0.0.1:${port}?tls=off`, CONFIDE_MAIL_RETRY_BASE_SECONDS: '5' } });
    cleanup.push(() => t.close());
    await queueMail(t, 'x@example.test', 's', 't');
    const delays: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      await t.app.services.mail.kick();
      const row = await t.app.services.db.selectFrom('mail_queue').selectAll().executeTakeFirstOrThrow();
      const delay = Math.round((new Date(row.next_attempt_at).getTime() - t.clock.now().getTime()) / 1000);
      delays.push(delay);
      t.clock.advance(delay + 1);
    }
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(Math.max(...delays)).toBe(900);
    expect(await t.app.services.mail.pendingCount()).toBe(1);
  });

  it('without SMTP, writes encrypted .eml files that `confide mail outbox` prints', async () => {
    const t = await createTestApp(dialect);
    cleanup.push(() => t.close());
    const address = `reader.${randomBytes(4).toString('hex')}@example.test`;
    await queueMail(t, address, 'Your recovery codes were regenerated', 'If this was not you, contact your admin.');
    await t.app.services.mail.kick();
    const dir = join(t.dataDir, 'outbox');
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const content = readFileSync(join(dir, files[0]!), 'utf8');
    expect(content).not.toContain(address);
    expect(content).not.toContain('recovery codes');

    const printed = runCli(['mail', 'outbox', '--json'], t.env);
    expect(printed.status, printed.stderr).toBe(0);
    const { messages } = JSON.parse(printed.stdout);
    expect(messages).toHaveLength(1);
    expect(messages[0].eml).toContain(`To: ${address}`);
    expect(messages[0].eml).toContain('Subject: Your recovery codes were regenerated');
  });

  it('stores queued messages encrypted', async () => {
    const port = await freePort();
    const t = await createTestApp(dialect, { env: { CONFIDE_SMTP_URL: `smtp://127.0.0.1:${port}?tls=off` } });
    cleanup.push(() => t.close());
    await queueMail(t, 'secret.person@example.test', 'subject-canary', 'body-canary');
    const row = await t.app.services.db.selectFrom('mail_queue').selectAll().executeTakeFirstOrThrow();
    expect(row.message_enc).toMatch(/^c1\.A256GCM\./);
    expect(JSON.stringify(row)).not.toMatch(/secret\.person|subject-canary|body-canary/);
  });
});

describe('mail configuration', () => {
  it('refuses plain SMTP to a host that is not loopback', () => {
    expect(() => loadConfig({ CONFIDE_SMTP_URL: 'smtp://mail.example.com:25?tls=off' })).toThrow(/CONFIDE_SMTP_URL/);
    expect(() => loadConfig({ CONFIDE_SMTP_URL: 'smtp://127.attacker.example:25?tls=off' })).toThrow(/CONFIDE_SMTP_URL/);
    expect(loadConfig({ CONFIDE_SMTP_URL: 'smtp://127.0.0.1:2525?tls=off' }).mail.smtpUrl).toBe('smtp://127.0.0.1:2525?tls=off');
    expect(() => loadConfig({ CONFIDE_SMTP_URL: 'http://mail.example.com' })).toThrow(/CONFIDE_SMTP_URL/);
    expect(loadConfig({ CONFIDE_SMTP_URL: 'smtp://mail.example.com:587' }).mail.smtpUrl).toBe('smtp://mail.example.com:587');
  });
});

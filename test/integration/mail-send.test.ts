import { afterEach, describe, expect, it, vi } from 'vitest';
import { afterCommit } from '../../src/db/after-commit.js';
import { MailQueue } from '../../src/mail/mail-queue.js';
import type { MailMessage } from '../../src/mail/mail-message.js';
import { MAIL_TEMPLATES } from '../../src/mail/templates/mail-templates.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { strongPassword } from '../harness/builders.js';

/**
 * `mail.send`: a use case queues a templated mail inside its transaction, and delivery starts once
 * that transaction has committed, with no kick in the use case and no background worker
 * (createTestApp turns the workers off).
 */
describe.each(DIALECTS)('mail.send and after-commit on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('claims each message from the time it is taken, not from the start of a slow round: no other node can send it meanwhile', async () => {
    t = await createTestApp(dialect);
    const app = t;
    const claims: Array<{ claimedUntil: number; now: number }> = [];
    // The first delivery takes 150 s by the clock, standing for a round of many slow SMTP sends.
    const slowTransport = {
      description: 'slow',
      close: () => {},
      async deliver(message: MailMessage) {
        if (claims.length === 0) app.clock.advance(150);
        const rows = await app.app.services.db.selectFrom('mail_queue').select('claimed_until').where('claimed_until', 'is not', null).execute();
        claims.push({ claimedUntil: Math.max(...rows.map((row) => Date.parse(row.claimed_until!))), now: app.clock.now().getTime() });
        expect(message.to).toMatch(/@example\.test$/);
      },
    };
    const systemCipher = () => Promise.resolve(app.app.services.keyRing.systemCipher());
    const queue = new MailQueue(app.app.services.db, slowTransport, systemCipher, app.clock, 5, (error) => {
      throw error;
    });
    for (const to of ['a@example.test', 'b@example.test']) await queue.enqueue(app.app.services.db, await systemCipher(), { to, subject: 's', text: 't' });
    await queue.kick();
    expect(claims).toHaveLength(2);
    expect(claims[1]!.claimedUntil).toBeGreaterThan(claims[1]!.now);
    expect(await queue.pendingCount()).toBe(0);
  });

  it('delivers a use case’s mail once its transaction commits, without a worker or an explicit kick', async () => {
    t = await createTestApp(dialect, { smtp: true });
    const email = `send-${Date.now()}@example.test`;
    const signup = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'Send Test Org', email, password: strongPassword() } });
    expect(signup.statusCode).toBe(201);
    const smtp = t.smtp!;
    await vi.waitFor(() => expect(smtp.received.filter((mail) => mail.to.includes(email))).toHaveLength(1), { timeout: 15_000, interval: 50 });
    expect(smtp.received[0]!.raw).toContain('Subject: Confide: confirm your e-mail address');
    // Delivered, then deleted from the queue (just after the SMTP server has it).
    const mail = t.app.services.mail;
    await vi.waitFor(async () => expect(await mail.pendingCount()).toBe(0), { timeout: 15_000, interval: 50 });
  });

  it('queues nothing when the transaction rolls back', async () => {
    t = await createTestApp(dialect);
    const { services } = t.app;
    const data = { at: new Date().toISOString(), ip: '192.0.2.1', publicUrl: 'https://confide.test' };
    await expect(
      services.transactions.run(async (trx) => {
        await services.mail.send(trx, 'password-changed', 'rollback@example.test', data);
        throw new Error('the change fails');
      }),
    ).rejects.toThrow('the change fails');
    expect(await services.mail.pendingCount()).toBe(0);
  });

  it('runs after-commit callbacks after the unit’s work and its commit, and never for a unit that fails', async () => {
    t = await createTestApp(dialect);
    const { services } = t.app;
    const order: string[] = [];
    const unit = (name: string, fail: boolean) =>
      services.transactions.run(async (trx) => {
        afterCommit(trx, () => order.push(`${name} committed`));
        await trx.selectFrom('mail_queue').select('id').execute();
        order.push(`${name} work done`);
        if (fail) throw new Error(`${name} fails`);
      });
    // Concurrent units share one SQLite transaction (group commit), each in its own savepoint.
    const outcomes = await Promise.allSettled([unit('a', false), unit('b', true), unit('c', false)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(order).not.toContain('b committed');
    for (const name of ['a', 'c']) {
      expect(order.filter((entry) => entry === `${name} committed`)).toHaveLength(1);
      expect(order.indexOf(`${name} committed`)).toBeGreaterThan(order.indexOf(`${name} work done`));
    }
  });

  it('runs a callback at once for a handle outside any unit (autocommit)', async () => {
    t = await createTestApp(dialect);
    let ran = false;
    afterCommit(t.app.services.db, () => (ran = true));
    expect(ran).toBe(true);
  });
});

describe('mail templates', () => {
  it('render every template to a subject and a plain-ASCII-safe text that carries its link token', () => {
    const token = 'cfx_TESTTOKEN';
    const common = { token, expiresAt: '2030-01-01T00:00:00.000Z', publicUrl: 'https://confide.test' };
    const rendered = [
      MAIL_TEMPLATES['email-verification']({ ...common, requestedAt: '2029-12-31T00:00:00.000Z', requestedFrom: '198.51.100.4' }),
      MAIL_TEMPLATES['password-reset'](common),
      MAIL_TEMPLATES.invitation({ ...common, organization: 'Acme', role: 'admin' }),
    ];
    for (const mail of rendered) {
      expect(mail.subject).toMatch(/^Confide: /);
      expect(mail.text).toContain(`#token=${token}`);
      expect(mail.text).toContain(`{"token": "${token}"`);
    }
    expect(MAIL_TEMPLATES.invitation({ ...common, organization: 'Acme', role: 'admin' }).text).toContain('as an admin.');
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { alertsOpenedSince, freshWindow } from '../harness/monitoring.js';

const unique = () => randomBytes(4).toString('hex');

/**
 * credential-stuffing counts the addresses one source tries (security_events.target_index, a blind
 * index of the normalised address), not its failures: one person mistyping one address, which no
 * account has, is not a stuffing list however often they try it.
 */
describe.each(DIALECTS)('credential-stuffing counts addresses tried on %s', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    // The sign-in throttle would slow the 11th try of one address from one source (and the 21st from
    // anywhere): raised here, so what is tested is the rule's count, not the throttle hiding failures from it.
    t = await createTestApp(dialect, { env: { CONFIDE_SIGNIN_MAX_FAILURES: '50', CONFIDE_SIGNIN_ACCOUNT_SLOW_AFTER: '50' } });
  });
  afterAll(async () => t?.close());

  const evaluate = () => t.app.monitor.runOnce(t.clock.now());
  const userSignInFails = async (email: string, ip: string) => {
    const response = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password: 'not-the-password-1' }, remoteAddress: ip });
    expect(response.statusCode, response.body).toBe(401);
  };
  const staffSignInFails = async (email: string, ip: string) => {
    const response = await t.admin({ method: 'POST', url: '/admin/v1/sessions', payload: { email, password: 'not-the-password-1' }, remoteAddress: ip });
    expect(response.statusCode, response.body).toBe(401);
  };
  const stuffingAlerts = async (since: Date) => (await alertsOpenedSince(t, since)).filter((alert) => alert.rule === 'credential-stuffing');
  const failureRows = async (since: Date) => {
    await t.app.services.securityEvents.flush();
    return t.app.services.db
      .selectFrom('security_events')
      .select(['type', 'outcome', 'target_index', 'user_id', 'actor_id'])
      .where('at', '>=', since.toISOString())
      .orderBy('id')
      .execute();
  };

  it('one person mistyping one unknown address 25 times from one source: no alert', async () => {
    const since = freshWindow(t);
    const typo = `jane.doe-${unique()}@exmaple.test`;
    for (let i = 0; i < 25; i += 1) {
      await userSignInFails(typo, '198.51.100.70');
      t.clock.advance(10);
    }
    const rows = await failureRows(since);
    expect(rows.filter((row) => row.type === 'signin.password' && row.outcome === 'failure')).toHaveLength(25); // every failure reached the rule
    await evaluate();
    expect(await stuffingAlerts(since)).toEqual([]);
  });

  it('20 different unknown addresses from one source: an alert', async () => {
    const since = freshWindow(t);
    for (let i = 0; i < 20; i += 1) {
      await userSignInFails(`victim-${unique()}@example.test`, '198.51.100.71');
      t.clock.advance(10);
    }
    await evaluate();
    const alerts = await stuffingAlerts(since);
    expect(alerts.map((alert) => [alert.subject, alert.details?.count])).toEqual([['198.51.100.71', 20]]);
  });

  it('known and unknown addresses, each tried twice: each address counts once (10 + 10)', async () => {
    const known = await Promise.all(Array.from({ length: 10 }, async () => buildTenant(t)));
    const unknown = Array.from({ length: 10 }, () => `list-${unique()}@example.test`);
    const since = freshWindow(t);
    for (const email of [...known.map((person) => person.email), ...unknown]) {
      await userSignInFails(email, '198.51.100.72');
      await userSignInFails(email.toUpperCase(), '198.51.100.72'); // the same address, as normalised
      t.clock.advance(10);
    }
    await evaluate();
    const alerts = await stuffingAlerts(since);
    expect(alerts.map((alert) => [alert.subject, alert.details?.count])).toEqual([['198.51.100.72', 20]]);
  });

  it('19 addresses tried over and over, known or not: no alert (the threshold is addresses, not failures)', async () => {
    const known = await Promise.all(Array.from({ length: 9 }, async () => buildTenant(t)));
    const addresses = [...known.map((person) => person.email), ...Array.from({ length: 10 }, () => `list-${unique()}@example.test`)];
    const since = freshWindow(t);
    for (let round = 0; round < 3; round += 1) {
      for (const email of addresses) await userSignInFails(email, '198.51.100.73');
      t.clock.advance(60);
    }
    await evaluate();
    expect(await stuffingAlerts(since)).toEqual([]);
  });

  it('staff sign-ins count too: 10 staff and 10 customer addresses from one source alert; one unknown staff address 25 times does not', async () => {
    const since = freshWindow(t);
    const typo = `opps-${unique()}@ops.example`;
    for (let i = 0; i < 25; i += 1) await staffSignInFails(typo, '198.51.100.74');
    await evaluate();
    expect(await stuffingAlerts(since)).toEqual([]);

    for (let i = 0; i < 10; i += 1) {
      await staffSignInFails(`ops-${unique()}@ops.example`, '198.51.100.75');
      await userSignInFails(`victim-${unique()}@example.test`, '198.51.100.75');
      t.clock.advance(10);
    }
    await evaluate();
    const alerts = await stuffingAlerts(since);
    expect(alerts.map((alert) => [alert.subject, alert.details?.count])).toEqual([['198.51.100.75', 20]]);
  });

  it('target_index: on every failed password sign-in, one per address (not the accounts’ email index), never the address itself', async () => {
    const person = await buildTenant(t);
    const member = await buildStaff(t);
    const since = freshWindow(t);
    const stranger = `Stranger-${unique()}@Example.test`;
    await userSignInFails(person.email, '198.51.100.76');
    await userSignInFails(` ${person.email.toUpperCase()} `, '198.51.100.76');
    await userSignInFails(stranger, '198.51.100.76');
    await staffSignInFails(member.email, '198.51.100.76');
    await staffSignInFails(stranger.toLowerCase(), '198.51.100.76');
    const signedIn = await t.request({ method: 'POST', url: '/v1/sessions', payload: { email: person.email, password: person.password }, remoteAddress: '198.51.100.76' });
    expect(signedIn.statusCode).toBe(201);

    const rows = await failureRows(since);
    const failures = rows.filter((row) => row.outcome === 'failure');
    expect(failures.map((row) => row.type)).toEqual(['signin.password', 'signin.password', 'signin.password', 'staff.signin.password', 'staff.signin.password']);
    const [own, ownAgain, strangerUser, staffOwn, strangerStaff] = failures.map((row) => row.target_index);
    for (const index of [own, strangerUser, staffOwn]) expect(index).toMatch(/^[0-9a-f]{64}$/);
    // One address, one index, whatever its case or realm; another address, another index.
    expect([own === ownAgain, strangerUser === strangerStaff, own === strangerUser, own === staffOwn]).toEqual([true, true, false, false]);
    expect(failures[0]!.user_id).toBe(person.userId);
    // Every other event (the success) carries none.
    expect(rows.filter((row) => row.outcome !== 'failure').map((row) => row.target_index)).toEqual(rows.filter((row) => row.outcome !== 'failure').map(() => null));
    // Its own label: an events reader cannot join a failure to the account row by the address's index.
    const user = await t.app.services.db.selectFrom('users').select('email_index').where('id', '=', person.userId).executeTakeFirstOrThrow();
    expect(own).not.toBe(user.email_index);
    // The index is the database's: the log lines (and so syslog and the tenant's API) never carry it.
    expect(t.logs.join('\n')).not.toContain(own!);
    const text = JSON.stringify(rows).toLowerCase();
    for (const clear of [person.email, stranger.toLowerCase(), member.email]) expect(text).not.toContain(clear.toLowerCase());
  });
});

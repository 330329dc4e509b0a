import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildTenant, errorCode } from '../harness/builders.js';
import { bodyOf } from '../harness/smtp-sink.js';

// The documented defaults (docs/configuration.md): the suite runs with them, so the figures it
// measures are the ones an operator gets.
const PAIR_MAX_FAILURES = 10;
const SOURCE_MAX_FAILURES = 100;
const FIRST_DELAY_SECONDS = 60;
const MAX_DELAY_SECONDS = 3600;
const WINDOW_SECONDS = 900;
const ACCOUNT_SLOW_AFTER = 20;
const ACCOUNT_MAX_FAILURES = 100;

describe.each(DIALECTS)('sign-in throttling on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const signIn = (email: string, password: string, ip: string) =>
    t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password }, remoteAddress: ip });
  const retryAfter = (response: LightMyRequestResponse) => Number(response.headers['retry-after']);
  const expectRateLimited = (response: LightMyRequestResponse) => {
    expect(response.statusCode, response.body).toBe(429);
    expect(errorCode(response)).toBe('RATE_LIMITED');
    expect(retryAfter(response)).toBeGreaterThan(0);
  };

  /**
   * A patient attacker: sends wrong passwords, waiting out every 429 for as long as Retry-After
   * says, until `failures` guesses have actually been checked. Returns the waits it was given.
   */
  async function guessUntil(failures: number, send: (i: number) => Promise<LightMyRequestResponse>): Promise<number[]> {
    const waits: number[] = [];
    for (let checked = 0, i = 0; checked < failures; i += 1) {
      const response = await send(i);
      if (response.statusCode === 429) {
        expectRateLimited(response);
        waits.push(retryAfter(response));
        t.clock.advance(retryAfter(response));
      } else {
        expect(response.statusCode, response.body).toBe(401);
        checked += 1;
      }
    }
    return waits;
  }

  it('ASVS 6.1.1: an attacker failing 50 times from one address does not keep the owner out: the right password from another address signs in at once', async () => {
    const victim = await buildTenant(t);
    await guessUntil(50, (i) => signIn(victim.email, `wrong-password-${i}`, '203.0.113.7'));
    // 203.0.113.9 has never failed, and has never signed in before either.
    const owner = await signIn(victim.email, victim.password, '203.0.113.9');
    expect(owner.statusCode, owner.body).toBe(201);
  });

  it('checks parallel guesses one at a time: 50 wrong passwords sent at once get no more than the 10 a patient attacker gets', async () => {
    const victim = await buildTenant(t);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => signIn(victim.email, `parallel-guess-${i}`, '203.0.113.77')));
    const checked = answers.filter((response) => response.statusCode === 401).length;
    expect(checked).toBe(10);
    expect(answers.filter((response) => response.statusCode === 429)).toHaveLength(40);
    // Parallel guesses over many accounts from one address meet the stuffing limit the same way.
    const accounts = Array.from({ length: 130 }, (_, i) => `stuffed-parallel-${i}@example.test`);
    const stuffed = await Promise.all(accounts.map((email) => signIn(email, 'guess', '203.0.113.78')));
    expect(stuffed.filter((response) => response.statusCode === 401)).toHaveLength(100);
  });

  it('blocks the failing (account, address) pair after 10 failures with Retry-After, each further block twice as long, up to an hour', async () => {
    const victim = await buildTenant(t);
    const attacker = '203.0.113.20';
    for (let i = 0; i < PAIR_MAX_FAILURES; i += 1) expect((await signIn(victim.email, `wrong-${i}`, attacker)).statusCode).toBe(401);
    // Blocked for whoever types at that address, even with the right password: the check is not run.
    const blocked = await signIn(victim.email, victim.password, attacker);
    expectRateLimited(blocked);
    expect(retryAfter(blocked)).toBeLessThanOrEqual(FIRST_DELAY_SECONDS);

    const waits = [retryAfter(blocked)];
    for (let round = 0; round < 8; round += 1) {
      t.clock.advance(waits[waits.length - 1]!);
      expect((await signIn(victim.email, `wrong-again-${round}`, attacker)).statusCode).toBe(401);
      const again = await signIn(victim.email, `wrong-too-soon-${round}`, attacker);
      expectRateLimited(again);
      waits.push(retryAfter(again));
    }
    // 60 s, 120 s, 240 s, … doubling, then held at the one-hour cap.
    const expected = waits.map((_, n) => Math.min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** n));
    waits.forEach((wait, n) => {
      expect(wait).toBeLessThanOrEqual(expected[n]!);
      expect(wait).toBeGreaterThan(expected[n]! - 5);
    });

    // The owner elsewhere was never affected: 18 failures from one address are no distributed attack.
    expect((await signIn(victim.email, victim.password, '203.0.113.21')).statusCode).toBe(201);
  });

  it('NIST 800-63B 3.2.2: distributed guessing from 150 addresses is slowed after 20 failures, and stops at 100 consecutive failures for unknown sources, while the owner’s known address still gets in', async () => {
    const owner = await buildTenant(t);
    const home = '198.51.100.50';
    expect((await signIn(owner.email, owner.password, home)).statusCode).toBe(201); // home is now a known source
    const botnet = (i: number) => `10.3.0.${(i % 150) + 1}`;
    const guess = (i: number) => signIn(owner.email, `spray-${i}`, botnet(i));

    // Twenty guesses are let through at once, from twenty addresses.
    for (let i = 0; i < ACCOUNT_SLOW_AFTER; i += 1) expect((await guess(i)).statusCode).toBe(401);
    // Then every address the account has not signed in from waits, even with the right password.
    const slowed = await signIn(owner.email, owner.password, '10.3.9.9');
    expectRateLimited(slowed);
    expect(retryAfter(slowed)).toBeLessThanOrEqual(FIRST_DELAY_SECONDS);

    // How many guesses does a patient botnet get in the first hour? (Unthrottled: as many as argon2
    // allows, thousands; with per-address limits only, 150 × 10 = 1,500 in 15 minutes.)
    const start = t.clock.now().getTime();
    let i = ACCOUNT_SLOW_AFTER;
    let checked = ACCOUNT_SLOW_AFTER;
    while (t.clock.now().getTime() - start < 3600_000) {
      const response = await guess(i++);
      if (response.statusCode === 429) {
        t.clock.advance(retryAfter(response));
      } else {
        expect(response.statusCode).toBe(401);
        checked += 1;
      }
    }
    // 20 at once, then one after each wait of 1, 2, 4, 8 and 16 minutes: 25 (the next comes after
    // 32 more minutes, and then one an hour).
    const guessesInFirstHour = checked;
    console.log(`[${dialect}] distributed guesses against one account in the first hour: ${guessesInFirstHour}`);
    expect(guessesInFirstHour).toBeGreaterThanOrEqual(ACCOUNT_SLOW_AFTER + 4);
    expect(guessesInFirstHour).toBeLessThanOrEqual(ACCOUNT_SLOW_AFTER + 6);

    // Keep guessing up to the ceiling of 100 consecutive failures.
    const waits = await guessUntil(ACCOUNT_MAX_FAILURES - checked, (k) => guess(i + k));
    expect(Math.max(...waits)).toBeLessThanOrEqual(MAX_DELAY_SECONDS);

    // At the ceiling the password is not even checked for unknown sources, however long they wait.
    const locked = await signIn(owner.email, owner.password, '10.3.9.10');
    expectRateLimited(locked);
    t.clock.advance(2 * 86400);
    expectRateLimited(await signIn(owner.email, owner.password, '10.3.9.11'));
    expectRateLimited(await guess(i + 1000));

    // The owner, from an address they signed in from before, still gets in, and that success
    // resets the consecutive count: a new address is let in again.
    expect((await signIn(owner.email, owner.password, home)).statusCode).toBe(201);
    expect((await signIn(owner.email, owner.password, '10.3.9.12')).statusCode).toBe(201);
    expect((await guess(i + 2000)).statusCode).toBe(401);
  });

  it('ASVS 6.1.1: credential stuffing from one address is blocked at 100 failures across accounts; other addresses are unaffected', async () => {
    const stuffer = '192.0.2.77';
    const colleague = await buildTenant(t);
    // The colleague shares the stuffer's address (one office NAT) and has signed in from it before.
    expect((await signIn(colleague.email, colleague.password, stuffer)).statusCode).toBe(201);
    const bystander = await buildTenant(t);

    let checked = 0;
    for (let i = 0; i < 150; i += 1) {
      const response = await signIn(`stuffed-${i}@example.test`, 'Winter2026!Winter', stuffer);
      if (response.statusCode === 401) checked += 1;
      else expectRateLimited(response);
    }
    expect(checked).toBe(SOURCE_MAX_FAILURES);

    expectRateLimited(await signIn(bystander.email, bystander.password, stuffer));
    // Other addresses are not affected, not even for the accounts that were stuffed.
    expect((await signIn(bystander.email, bystander.password, '192.0.2.78')).statusCode).toBe(201);
    expect((await signIn('stuffed-1@example.test', 'another-guess', '192.0.2.78')).statusCode).toBe(401);
    // A pair that has signed in before is not what stuffing looks like: the colleague gets in.
    expect((await signIn(colleague.email, colleague.password, stuffer)).statusCode).toBe(201);

    // The address's block grows too when it resumes.
    const first = await signIn('stuffed-x@example.test', 'guess', stuffer);
    expectRateLimited(first);
    t.clock.advance(retryAfter(first));
    expect((await signIn('stuffed-y@example.test', 'guess', stuffer)).statusCode).toBe(401);
    const second = await signIn('stuffed-z@example.test', 'guess', stuffer);
    expectRateLimited(second);
    expect(retryAfter(second)).toBeGreaterThan(FIRST_DELAY_SECONDS);
  });

  it('NIST 800-63B 3.2.2: a password reset lifts the lock at the ceiling of 100 consecutive failures', async () => {
    const owner = await buildTenant(t);
    await guessUntil(ACCOUNT_MAX_FAILURES, (i) => signIn(owner.email, `spray-${i}`, `10.4.0.${(i % 150) + 1}`));
    expectRateLimited(await signIn(owner.email, owner.password, '10.4.9.1'));

    expect((await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email: owner.email } })).statusCode).toBe(202);
    const mails = await t.mailTo(owner.email);
    const token = /#token=(cfr_[A-Za-z0-9_-]+)/.exec(bodyOf(mails[mails.length - 1]!))?.[1];
    expect(token).toBeDefined();
    const password = `${owner.password}-reset`;
    expect((await t.request({ method: 'POST', url: '/v1/password-resets/confirm', payload: { token, password } })).statusCode).toBe(204);
    expect((await signIn(owner.email, password, '10.4.9.2')).statusCode).toBe(201);
  });

  it('counts addresses in one IPv6 /64 as one source, so rotating through a /64 buys no guesses', async () => {
    const victim = await buildTenant(t);
    for (let i = 0; i < PAIR_MAX_FAILURES; i += 1) {
      expect((await signIn(victim.email, `wrong-${i}`, `2001:db8:7:1::${(i + 1).toString(16)}`)).statusCode).toBe(401);
    }
    expectRateLimited(await signIn(victim.email, 'wrong-next', '2001:db8:7:1:ffff::1'));
    expect((await signIn(victim.email, 'wrong-next', '2001:db8:7:2::1')).statusCode).toBe(401);
    expect((await signIn(victim.email, victim.password, '2001:db8:7:3::1')).statusCode).toBe(201);
  });

  it('wrong re-authentication passwords in one’s own session are throttled, and never lock the user out of signing in elsewhere', async () => {
    const owner = await buildTenant(t);
    const home = '198.51.100.60';
    const session = await signIn(owner.email, owner.password, home);
    expect(session.statusCode).toBe(201);
    const changePassword = (currentPassword: string) =>
      t.request({ method: 'POST', url: '/v1/me/password', token: session.json().token, payload: { currentPassword, newPassword: `${owner.password}-new` }, remoteAddress: home });

    // Three runs of ten wrong passwords, each run blocked: 30 failures, more than the 20 after which
    // sign-in failures would slow down unknown addresses.
    for (let run = 0; run < 3; run += 1) {
      if (run > 0) t.clock.advance(WINDOW_SECONDS + FIRST_DELAY_SECONDS + 1); // the block ends and the run is forgotten
      for (let i = 0; i < PAIR_MAX_FAILURES; i += 1) expect((await changePassword(`not-it-${run}-${i}`)).statusCode).toBe(401);
      expectRateLimited(await changePassword(owner.password));
    }
    // While re-authentication is blocked, signing in works, from a new address and from the same one.
    expect((await signIn(owner.email, owner.password, '198.51.100.61')).statusCode).toBe(201);
    expect((await signIn(owner.email, owner.password, home)).statusCode).toBe(201);
    // The signed-in session still cannot guess: the block is on re-authentication from that address.
    expectRateLimited(await changePassword(owner.password));
  });

  it('throttles unknown accounts the same way and with the same answer, so a 429 does not reveal which accounts exist', async () => {
    const real = await buildTenant(t);
    const ip = '203.0.113.30';
    for (let i = 0; i < PAIR_MAX_FAILURES; i += 1) {
      expect((await signIn('ghost@example.test', `guess-${i}`, ip)).statusCode).toBe(401);
      expect((await signIn(real.email, `guess-${i}`, ip)).statusCode).toBe(401);
    }
    const ghost = await signIn('ghost@example.test', 'guess-final', ip);
    const existing = await signIn(real.email, 'guess-final', ip);
    expectRateLimited(ghost);
    expectRateLimited(existing);
    expect(ghost.json().error.message).toBe(existing.json().error.message);
    expect(Math.abs(retryAfter(ghost) - retryAfter(existing))).toBeLessThanOrEqual(1);
  });

  it('does not block other accounts, and a success clears the failing pair’s count', async () => {
    const target = await buildTenant(t);
    const bystander = await buildTenant(t);
    const ip = '203.0.113.40';
    for (let i = 0; i < PAIR_MAX_FAILURES - 1; i += 1) expect((await signIn(target.email, `wrong-${i}`, ip)).statusCode).toBe(401);
    expect((await signIn(bystander.email, bystander.password, ip)).statusCode).toBe(201);
    expect((await signIn(target.email, target.password, ip)).statusCode).toBe(201);
    // The count started again from zero.
    for (let i = 0; i < PAIR_MAX_FAILURES - 1; i += 1) expect((await signIn(target.email, `wrong-again-${i}`, ip)).statusCode).toBe(401);
    expect((await signIn(target.email, target.password, ip)).statusCode).toBe(201);
  });
});

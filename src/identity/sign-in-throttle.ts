import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Config } from '../config/config.js';
import { AppError } from '../lib/app-error.js';
import { addSeconds, type Clock } from '../lib/time.js';
import { blindIndex } from '../keys/blind-index.js';
import { blockUntil, countFailure, deleteCounters, readCounters, touch, type ThrottleCounter } from './throttle-counters.js';
import { clientSource } from '../lib/client-source.js';
import { KeyedLock } from '../lib/keyed-lock.js';

type ThrottlePolicy = Config['signInThrottle'];

/**
 * Whose sign-ins a throttle counts. Each realm's counters live under their own blind-index labels,
 * so staff and users never share a count even for the same address; users' labels are the
 * unprefixed ones they have always had.
 */
export type ThrottleRealm = 'user' | 'staff';

/**
 * `sign-in`: a password or second factor offered to get a session (sign-in, invitation acceptance).
 * `step-up`: re-authentication inside a session the user already holds; counted apart, so a user's
 * own typing mistakes (or a stolen session's guesses) never block signing in.
 */
export type ThrottlePurpose = 'sign-in' | 'step-up';

export interface ThrottleSubject {
  /** The normalised e-mail address tried, whether or not an account has it. */
  email: string;
  ip: string;
  /** `sign-in` unless said otherwise. */
  purpose?: ThrottlePurpose;
}

interface SubjectKeys {
  pair: string;
  source: string | undefined;
  account: string;
  spread: string;
  known: string;
}

/**
 * Slows online password guessing without handing attackers a way to lock people out
 * (NIST SP 800-63B §5.2.2, 800-63B-4 §3.2.2; OWASP ASVS 5.0 6.1.1 and 6.3.x; OWASP Authentication
 * Cheat Sheet, "Protect against automated attacks"). A fixed lock per account, which we had, lets
 * anyone who knows an address keep its owner out; a lock per IP alone lets a botnet guess freely.
 * So four counters, each a row of `signin_throttle` under a blind index (no address or IP in clear):
 *
 * - (account, source): tight. `pairMaxFailures` (10) failures in a run block that pair for
 *   `firstDelaySeconds` (1 min), and every further failure in the run blocks it twice as long, up to
 *   `maxDelaySeconds` (1 h). A run is forgotten `windowSeconds` (15 min) after its last failure and
 *   block. This is what stops one address guessing one account, and it touches no one else.
 * - source across accounts: credential stuffing. `sourceMaxFailures` (100) failures in a run block
 *   the source the same growing way. A source is an IPv4 address or an IPv6 /64 (lib/client-source.ts).
 * - account, consecutive failures from anywhere, reset only by a success or a password reset. At
 *   `accountMaxFailures` (≤ 100, the NIST ceiling) the password is no longer checked for unknown
 *   sources at all, until the owner signs in from a known source or resets the password.
 * - account, "spread" failures: those the pair counter had not yet slowed, i.e. the guesses a
 *   distributed attacker gets for free. Beyond `accountSlowAfter` (20), unknown sources wait a
 *   growing delay (1 min, doubling, capped at 1 h) after each: a botnet of any size gets 25 guesses
 *   in the first hour and then one an hour, instead of thousands. Failures one address keeps making
 *   after its own pair block do not count here, so an attacker hammering from one address slows
 *   only that address; they still count toward the ceiling.
 *
 * A known source is an (account, source) pair that completed a sign-in in the last
 * `knownSourceDays` (30); it is exempt from the account-wide delay and lock and from the source-wide
 * block (a colleague behind the stuffer's NAT still gets in), never from its own pair limit. This is
 * NIST's "accept only authentication requests from IP addresses from which the subscriber has
 * been successfully authenticated before", and it is how the owner gets in while an attacker sprays.
 * Unknown and existing accounts are counted and answered alike, so a 429 tells nothing about
 * existence. State lives in the database, so every node shares it; checking costs one indexed
 * query, a success one delete and one upsert, a failure a few single-row upserts in one transaction.
 */
export class SignInThrottle {
  private readonly inFlight = new KeyedLock();

  constructor(
    private readonly db: Kysely<DB>,
    private readonly transactions: TransactionRunner,
    private readonly policy: ThrottlePolicy,
    private readonly clock: Clock,
    private readonly indexKey: () => Promise<Buffer>,
    private readonly realm: ThrottleRealm = 'user',
  ) {}

  /**
   * Runs a whole check — is it allowed, the password or code, the count — while no other check of
   * the same account or the same source runs in this process. Without it, a thousand parallel
   * guesses would all read "not blocked" before the first failure was counted, and all be tried.
   * (Several nodes each serialise their own: the bypass is bounded by the number of nodes.)
   */
  guard<T>(subject: ThrottleSubject, check: () => Promise<T>): Promise<T> {
    const prefix = `${this.realm}:${subject.purpose ?? 'sign-in'}`;
    return this.inFlight.run([`${prefix}:account:${subject.email}`, `${prefix}:source:${clientSource(subject.ip)}`], check);
  }

  /** Throws RATE_LIMITED (with Retry-After) while this subject may not try its password. */
  async assertAllowed(subject: ThrottleSubject): Promise<void> {
    const keys = await this.keys(subject);
    const counters = await readCounters(this.db, present(keys));
    const now = this.clock.now();
    const blocks = [counters.get(keys.pair)];
    if (!this.isKnown(counters.get(keys.known), now)) {
      if ((counters.get(keys.account)?.failures ?? 0) >= this.policy.accountMaxFailures) throw this.locked();
      blocks.push(keys.source ? counters.get(keys.source) : undefined, counters.get(keys.spread));
    }
    const until = Math.max(now.getTime(), ...blocks.map((counter) => counter?.blockedUntil?.getTime() ?? 0));
    if (until > now.getTime()) {
      throw new AppError('RATE_LIMITED', {
        message: 'Too many failed sign-in attempts; try again later.',
        retryAfterSeconds: Math.ceil((until - now.getTime()) / 1000),
      });
    }
  }

  /**
   * One throttled proof of identity: refused (429) while the subject is blocked; a failed check is
   * counted. A passed step-up clears its counters; a passed sign-in check leaves that to the caller,
   * which knows whether a second factor is still due.
   */
  async attempt(subject: ThrottleSubject, check: () => Promise<boolean>): Promise<boolean> {
    return this.guard(subject, async () => {
      await this.assertAllowed(subject);
      const passed = await check();
      if (!passed) await this.recordFailure(subject);
      else if (subject.purpose === 'step-up') await this.recordSuccess(subject);
      return passed;
    });
  }

  async recordFailure(subject: ThrottleSubject): Promise<void> {
    const keys = await this.keys(subject);
    const { pairMaxFailures, sourceMaxFailures, accountSlowAfter, windowSeconds } = this.policy;
    const now = this.clock.now();
    const forgetBefore = addSeconds(now, -windowSeconds);
    await this.transactions.run(async (trx) => {
      const pairFailures = await countFailure(trx, keys.pair, now, forgetBefore);
      await this.delayBeyond(trx, keys.pair, pairFailures, pairMaxFailures, now);
      if (keys.source) {
        await this.delayBeyond(trx, keys.source, await countFailure(trx, keys.source, now, forgetBefore), sourceMaxFailures, now);
      }
      await countFailure(trx, keys.account, now);
      if (pairFailures <= pairMaxFailures) {
        await this.delayBeyond(trx, keys.spread, await countFailure(trx, keys.spread, now), accountSlowAfter, now);
      }
    });
  }

  /**
   * A completed sign-in (or step-up): the pair and the account start again from zero, and a
   * signed-in source becomes known. The source-wide count ages out on its own: one good password
   * in a stuffing list must not wipe the others' failures.
   */
  async recordSuccess(subject: ThrottleSubject): Promise<void> {
    const keys = await this.keys(subject);
    const now = this.clock.now();
    await this.transactions.run(async (trx) => {
      await deleteCounters(trx, [keys.pair, keys.account, keys.spread]);
      if ((subject.purpose ?? 'sign-in') === 'sign-in') await touch(trx, keys.known, now);
    });
  }

  /** After a password reset the old password's guesses no longer matter: the account-wide counts end. */
  async clearAccount(email: string): Promise<void> {
    const key = await this.indexKey();
    const purposes: ThrottlePurpose[] = ['sign-in', 'step-up'];
    await deleteCounters(
      this.db,
      purposes.flatMap((purpose) => [
        blindIndex(key, this.label(`throttle:${purpose}:account`), email),
        blindIndex(key, this.label(`throttle:${purpose}:spread`), email),
      ]),
    );
  }

  /** From `threshold` failures on, each failure blocks for the first delay, doubled per failure, capped. */
  private async delayBeyond(trx: Kysely<DB>, key: string, failures: number, threshold: number, now: Date): Promise<void> {
    if (failures < threshold) return;
    const { firstDelaySeconds, maxDelaySeconds } = this.policy;
    const seconds = Math.min(maxDelaySeconds, firstDelaySeconds * 2 ** Math.min(failures - threshold, 32));
    await blockUntil(trx, key, addSeconds(now, seconds));
  }

  private isKnown(counter: ThrottleCounter | undefined, now: Date): boolean {
    return counter !== undefined && addSeconds(counter.lastFailureAt, this.policy.knownSourceDays * 86_400) > now;
  }

  private locked(): AppError {
    // Said the same way for accounts that do not exist, which reach the ceiling the same way.
    return new AppError('RATE_LIMITED', {
      message: 'Too many failed sign-in attempts. Sign in from a device you have used before, or reset your password.',
      retryAfterSeconds: this.policy.maxDelaySeconds,
    });
  }

  private async keys(subject: ThrottleSubject): Promise<SubjectKeys> {
    const key = await this.indexKey();
    const purpose = subject.purpose ?? 'sign-in';
    const source = clientSource(subject.ip);
    const pairValue = `${subject.email}\u0000${source}`;
    return {
      pair: blindIndex(key, this.label(`throttle:${purpose}:pair`), pairValue),
      // Stuffing is an attack on sign-in; a session's own re-authentication is no part of it.
      source: purpose === 'sign-in' ? blindIndex(key, this.label('throttle:source'), source) : undefined,
      account: blindIndex(key, this.label(`throttle:${purpose}:account`), subject.email),
      spread: blindIndex(key, this.label(`throttle:${purpose}:spread`), subject.email),
      known: blindIndex(key, this.label('throttle:known-source'), pairValue),
    };
  }

  /** The blind-index label of a counter in this realm (users' labels unchanged, so stored rows stay valid). */
  private label(name: string): string {
    return this.realm === 'user' ? name : `${this.realm}:${name}`;
  }
}

function present(keys: SubjectKeys): string[] {
  return Object.values(keys).filter((key): key is string => key !== undefined);
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { TransactionRunner } from '../db/transaction-runner.js';
import type { Config } from '../config/config.js';
import { isUniqueViolation } from '../db/constraint-errors.js';
import { AppError } from '../lib/app-error.js';
import { addSeconds, type Clock } from '../lib/time.js';
import { blindIndex } from '../keys/blind-index.js';

type ThrottlePolicy = Config['signInThrottle'];

export interface ThrottleSubject {
  /** The normalised e-mail address tried, whether or not an account has it. */
  email: string;
  ip: string;
}

/**
 * Slows password guessing per account and per client IP (NIST 800-63B 3.2.2, ASVS 6.1.1).
 * Failures are counted in a sliding window; at the limit the subject is blocked for
 * `lockSeconds`, and every further failure in the window blocks it again. So an attacker spread
 * across many IPs still gets only `accountMaxFailures` guesses per lock period against one account,
 * while the owner gets back in once the block ends: a temporary block, not a permanent lockout
 * an attacker could use to deny service. State lives in the database so every node shares it,
 * keyed by blind indexes so no address or IP rests in clear.
 */
export class SignInThrottle {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly transactions: TransactionRunner,
    private readonly policy: ThrottlePolicy,
    private readonly clock: Clock,
    private readonly indexKey: () => Promise<Buffer>,
  ) {}

  /** Throws RATE_LIMITED (with Retry-After) while either the account or the IP is blocked. */
  async assertAllowed(subject: ThrottleSubject): Promise<void> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('signin_throttle')
      .select('blocked_until')
      .where('key', 'in', await this.keys(subject))
      .execute();
    const blockedUntil = rows
      .map((row) => (row.blocked_until ? new Date(row.blocked_until) : now))
      .reduce((latest, date) => (date > latest ? date : latest), now);
    if (blockedUntil > now) {
      throw new AppError('RATE_LIMITED', {
        message: 'Too many failed sign-in attempts; try again later.',
        retryAfterSeconds: Math.ceil((blockedUntil.getTime() - now.getTime()) / 1000),
      });
    }
  }

  /**
   * One throttled proof of identity: refused (429) while the subject is blocked; a failed check
   * counts against the account and the IP. Returns whether the check passed.
   */
  async attempt(subject: ThrottleSubject, check: () => Promise<boolean>): Promise<boolean> {
    await this.assertAllowed(subject);
    const passed = await check();
    if (!passed) await this.recordFailure(subject);
    return passed;
  }

  async recordFailure(subject: ThrottleSubject): Promise<void> {
    const [accountKey, ipKey] = await this.keys(subject);
    await this.bump(accountKey!, this.policy.accountMaxFailures);
    await this.bump(ipKey!, this.policy.ipMaxFailures);
  }

  /** A correct password clears the account's count (the IP's count ages out on its own). */
  async recordSuccess(subject: ThrottleSubject): Promise<void> {
    const [accountKey] = await this.keys(subject);
    await this.db.deleteFrom('signin_throttle').where('key', '=', accountKey!).execute();
  }

  private async bump(key: string, maxFailures: number, attempt = 1): Promise<void> {
    try {
      await this.bumpOnce(key, maxFailures);
    } catch (error) {
      // Two nodes (or requests) counting the first failure at once: count again on top of the winner.
      if (attempt < 3 && isUniqueViolation(error)) return this.bump(key, maxFailures, attempt + 1);
      throw error;
    }
  }

  private async bumpOnce(key: string, maxFailures: number): Promise<void> {
    const now = this.clock.now();
    await this.transactions.run(async (trx) => {
      const row = await trx.selectFrom('signin_throttle').selectAll().where('key', '=', key).executeTakeFirst();
      const windowOpen = row && addSeconds(new Date(row.last_failure_at), this.policy.windowSeconds) > now;
      const failures = windowOpen ? row.failures + 1 : 1;
      const blockedUntil = failures >= maxFailures ? addSeconds(now, this.policy.lockSeconds).toISOString() : null;
      const values = { failures, last_failure_at: now.toISOString(), blocked_until: blockedUntil };
      if (row) await trx.updateTable('signin_throttle').set(values).where('key', '=', key).execute();
      else await trx.insertInto('signin_throttle').values({ key, ...values }).execute();
    });
  }

  private async keys(subject: ThrottleSubject): Promise<string[]> {
    const key = await this.indexKey();
    return [blindIndex(key, 'throttle:account', subject.email), blindIndex(key, 'throttle:ip', subject.ip)];
  }
}

import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** One row of `signin_throttle`, whatever kind of counter its key names. */
export interface ThrottleCounter {
  failures: number;
  lastFailureAt: Date;
  blockedUntil: Date | null;
}

/** The rows for `keys`, in one indexed query (the primary key), keyed by key; missing keys are absent. */
export async function readCounters(db: Kysely<DB>, keys: string[]): Promise<Map<string, ThrottleCounter>> {
  const rows = await db.selectFrom('signin_throttle').selectAll().where('key', 'in', keys).execute();
  return new Map(
    rows.map((row) => [
      row.key,
      { failures: row.failures, lastFailureAt: new Date(row.last_failure_at), blockedUntil: row.blocked_until ? new Date(row.blocked_until) : null },
    ]),
  );
}

/**
 * Counts one failure in one statement (an upsert), so concurrent failures on several nodes are all
 * counted, and returns the new count. With `forgetBefore`, a run whose last failure and block both
 * ended before that moment is forgotten and counting starts again at 1; without it the count only
 * grows until deleted (consecutive failures). Timestamps are ISO-8601 UTC text of one fixed width,
 * so comparing them as text compares them as times on both dialects.
 */
export async function countFailure(db: Kysely<DB>, key: string, now: Date, forgetBefore?: Date): Promise<number> {
  const at = now.toISOString();
  const row = await db
    .insertInto('signin_throttle')
    .values({ key, failures: 1, last_failure_at: at, blocked_until: null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => {
        const next = eb('signin_throttle.failures', '+', 1);
        if (!forgetBefore) return { failures: next, last_failure_at: at };
        const cutoff = forgetBefore.toISOString();
        const runGoesOn = eb.or([eb('signin_throttle.last_failure_at', '>', cutoff), eb('signin_throttle.blocked_until', '>', cutoff)]);
        return { failures: eb.case().when(runGoesOn).then(next).else(1).end(), last_failure_at: at };
      }),
    )
    .returning('failures')
    .executeTakeFirstOrThrow();
  return Number(row.failures);
}

/** Blocks a key until `until`, never shortening a longer block a concurrent failure already set. */
export async function blockUntil(db: Kysely<DB>, key: string, until: Date): Promise<void> {
  const at = until.toISOString();
  await db
    .updateTable('signin_throttle')
    .set({ blocked_until: at })
    .where('key', '=', key)
    .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', at)]))
    .execute();
}

/** Records a moment against a key (a known source's last sign-in), creating the row if needed. */
export async function touch(db: Kysely<DB>, key: string, now: Date): Promise<void> {
  const at = now.toISOString();
  await db
    .insertInto('signin_throttle')
    .values({ key, failures: 0, last_failure_at: at, blocked_until: null })
    .onConflict((oc) => oc.column('key').doUpdateSet({ last_failure_at: at }))
    .execute();
}

export async function deleteCounters(db: Kysely<DB>, keys: string[]): Promise<void> {
  await db.deleteFrom('signin_throttle').where('key', 'in', keys).execute();
}

import type { ControlledTransaction, Kysely } from 'kysely';
import { directSqliteFor } from './direct-sqlite.js';
import type { DB } from './schema.js';
import { withAfterCommit } from './after-commit.js';
import type { Dialect } from './store-dialect.js';

/** Told the size of each group commit (the metrics' histogram); the wiring passes it in. */
export type BatchObserver = (size: number) => void;

/** Runs a unit of work in a transaction and resolves once it is durably committed. */
export interface TransactionRunner {
  run<T>(work: (trx: Kysely<DB>) => Promise<T>): Promise<T>;
}

/** One transaction per unit: PostgreSQL already flushes concurrent commits together. */
export class OneTransactionEach implements TransactionRunner {
  constructor(private readonly db: Kysely<DB>) {}
  run<T>(work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }
}

interface Pending {
  work: (trx: Kysely<DB>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for SQLite, whose single writer makes every commit (and its fsync) wait its turn.
 * Units that arrive within two turns of the event loop (afterTheNextTurnsInput), or while a commit
 * is in progress, run together in one transaction, each inside its own savepoint: a unit that
 * fails rolls back alone, the others commit together, and nobody's promise resolves before the
 * shared commit is on disk. One fsync then covers many requests, and nothing is acknowledged early.
 */
export class GroupCommit implements TransactionRunner {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly onBatch?: BatchObserver,
  ) {}

  run<T>(work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        afterTheNextTurnsInput(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      this.onBatch?.(batch.length);
      await this.commitBatch(batch);
    }
    this.flushing = false;
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let trx;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    if (batch.length === 1) {
      // Alone in its batch, a unit needs no savepoint: its failure may roll back the whole transaction.
      const [pending] = batch as [Pending];
      try {
        const value = await pending.work(trx);
        await trx.commit().execute();
        pending.resolve(value);
      } catch (error) {
        await trx.rollback().execute().catch(() => undefined);
        pending.reject(error);
      }
      return;
    }
    const savepoints = unitSavepoints(trx);
    try {
      for (const pending of batch) {
        const unit = await savepoints.begin();
        try {
          outcomes.push({ ok: true, value: await pending.work(unit) });
          await savepoints.release(unit);
        } catch (error) {
          outcomes.push({ ok: false, error });
          await savepoints.rollBack(unit);
        }
      }
      await trx.commit().execute();
    } catch (error) {
      await trx.rollback().execute().catch(() => undefined);
      for (const pending of batch) pending.reject(error);
      return;
    }
    for (const [index, pending] of batch.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    }
  }
}

/**
 * Runs `then` once the event loop has read the input of one more turn. A batch gathers what the
 * turn that queued its first unit read, and what the next turn reads: the clients the previous
 * batch answered send their next requests while this turn runs, and those arrive in the next one.
 * Committing a turn later takes them along: measured on the read bench (issue 13, 10 and 32
 * connections), batches grew from 5.5 to 8.6 and from 17 to 25 units, and throughput by 20% and
 * 12%. An idle server loses nothing: with an immediate pending the loop does not wait for input,
 * so the extra turn takes microseconds.
 */
function afterTheNextTurnsInput(then: () => void): void {
  setImmediate(() => setImmediate(then));
}

interface UnitSavepoints {
  /** Opens a unit's savepoint and gives the handle the unit runs on. */
  begin(): Promise<Kysely<DB>>;
  release(unit: Kysely<DB>): Promise<void>;
  /** Undoes the unit's work, and ends its savepoint. */
  rollBack(unit: Kysely<DB>): Promise<void>;
}

/**
 * Each unit of a batch in a savepoint of its own. On the embedded database the savepoint
 * statements run on its handle directly and every unit is given the batch's transaction itself:
 * units run one after another, so the one handle is never used by two at once, and its
 * after-commit callbacks go to the unit that is running (after-commit.ts keys them by handle, set
 * as each unit starts). Kysely's savepoint API, used elsewhere, builds a transaction object and
 * runs its executor for each of the three statements, which cost more than the unit's own work.
 */
function unitSavepoints(trx: ControlledTransaction<DB>): UnitSavepoints {
  const direct = directSqliteFor(trx);
  if (direct) {
    return {
      begin: async () => (direct.exec('SAVEPOINT unit'), trx),
      release: async () => direct.exec('RELEASE unit'),
      rollBack: async () => direct.exec('ROLLBACK TO unit; RELEASE unit'),
    };
  }
  return {
    begin: () => trx.savepoint('unit').execute(),
    release: async (unit) => void (await (unit as ControlledTransaction<DB, ['unit']>).releaseSavepoint('unit').execute()),
    rollBack: async (unit) => {
      const savepoint = unit as ControlledTransaction<DB, ['unit']>;
      await savepoint.rollbackToSavepoint('unit').execute();
      await savepoint.releaseSavepoint('unit').execute();
    },
  };
}

/** The dialect's runner, with after-commit callbacks (after-commit.ts) for its units. */
export function transactionRunner(db: Kysely<DB>, dialect: Dialect, onBatch?: BatchObserver): TransactionRunner {
  return withAfterCommit(dialect.transactionRunner(db, onBatch));
}

import type { Kysely } from 'kysely';
import type { DB } from './schema.js';
import type { TransactionRunner } from './transaction-runner.js';

/** The callbacks of each unit of work in progress, by the handle the unit was given. */
const pending = new WeakMap<Kysely<DB>, Array<() => void>>();

/**
 * Runs `callback` once the unit of work that `trx` belongs to has durably committed, and never if
 * it rolls back. This is how work that must only see committed data (delivering a queued mail)
 * follows a transaction without every use case remembering to start it. A handle that is not a
 * runner's unit (the database itself, autocommitting) has nothing to wait for: `callback` runs at once.
 */
export function afterCommit(trx: Kysely<DB>, callback: () => void): void {
  const callbacks = pending.get(trx);
  if (callbacks) callbacks.push(callback);
  else callback();
}

/** Gives every unit run by `runner` its after-commit callbacks, called once its promise would resolve. */
export function withAfterCommit(runner: TransactionRunner): TransactionRunner {
  return {
    async run<T>(work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
      const callbacks: Array<() => void> = [];
      const value = await runner.run((trx) => {
        pending.set(trx, callbacks);
        return work(trx);
      });
      for (const callback of callbacks) callback();
      return value;
    },
  };
}

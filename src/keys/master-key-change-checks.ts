import type { MasterKey } from './master-key.js';

/**
 * Before a master key change touches anything: the database must be under the current master key,
 * and not already under the next one (a change that committed, then was run again).
 */
export function checkRecordedMasterKey(recorded: string | undefined, current: MasterKey, next: MasterKey): void {
  if (current.id === next.id) throw new Error(`${next.description} is the current master key (${current.id}): nothing to change`);
  if (recorded === next.id) {
    throw new Error(`the database is already under ${next.description} (${next.id}): the change is done; start Confide with its settings`);
  }
  if (recorded !== current.id) {
    throw new Error(`the database is under master key ${recorded ?? '(none recorded)'}, not under ${current.description} (${current.id})`);
  }
}

import { withServices } from './with-services.js';
import type { StoredStaffEvent } from '../security-events/security-event-store.js';
import { SecurityEventFollower } from '../security-events/security-event-tail.js';

export interface EventsTailOptions {
  follow?: boolean;
  json?: boolean;
  limit?: string;
}

const POLL_MS = 1_000;

function present(event: StoredStaffEvent): string {
  const actor = event.actor ? `${event.actor.type}:${event.actor.id}` : '-';
  return [event.at, event.type, event.outcome, actor, event.tenantId ?? '-', event.ip || '-'].join('  ');
}

/**
 * Prints the latest security events of every tenant, straight from the database (decrypted with
 * the system key), oldest first: one line each (time, type, outcome, actor, tenant, ip), or one
 * JSON object per line with --json. With --follow it keeps polling for new ones until SIGINT
 * or SIGTERM, then exits 0; an event committed late (a smaller id than one already printed) is
 * still printed, after the newer ones (SecurityEventFollower).
 */
export async function eventsTailCommand(options: EventsTailOptions): Promise<number> {
  const limit = parseLimit(options.limit);
  return withServices(async (services) => {
    let stopping = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopping = true;
      wake?.();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const cipher = services.keyRing.systemCipher();
    const print = (events: StoredStaffEvent[]) => {
      for (const event of events) process.stdout.write(`${options.json ? JSON.stringify(event) : present(event)}\n`);
    };
    const follower = new SecurityEventFollower(services.db, cipher);
    print(await follower.start(limit));
    while (options.follow && !stopping) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, POLL_MS);
      });
      if (stopping) break;
      print(await follower.next());
    }
    return 0;
  });
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 20;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > 10_000) throw new Error('--limit must be a whole number between 1 and 10000');
  return limit;
}

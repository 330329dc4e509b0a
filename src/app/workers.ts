import type { Logger } from 'pino';
import { SecurityEventRetention } from '../security-events/security-event-retention.js';
import type { Services } from './services.js';

/** A background loop of the process: started with the app (unless tests drive it by hand), stopped on close. */
export interface Worker {
  start(): void;
  stop(): void | Promise<void>;
}

export interface Workers {
  /** Every worker, in start order; they stop in reverse order. A new worker is one more entry. */
  all: Worker[];
  /** The hourly pruning of old security events (tests run it by hand). */
  securityEventRetention: SecurityEventRetention;
}

export function backgroundWorkers(services: Services, logger: Logger): Workers {
  const { db, clock, config, mail } = services;
  const securityEventRetention = new SecurityEventRetention(db, clock, config.securityEvents.retentionDays, (error) =>
    logger.error({ err: error }, 'security event pruning failed'),
  );
  return { all: [mail, securityEventRetention], securityEventRetention };
}

export function startWorkers(workers: Workers): void {
  for (const worker of workers.all) worker.start();
}

export async function stopWorkers(workers: Workers): Promise<void> {
  for (const worker of [...workers.all].reverse()) await worker.stop();
}
